// A tenant's config checked against the component's schema, as `wit/HOSTS.md` asks of every host: unknown
// keys and misplaced secrets refused, defaults filled in (`{key}` placeholders percent-encoded), choices
// enforced, required fields present; then the origins the component may reach and the token endpoint.

import { HostError } from './errors.js';

/** Percent-encodes all but unreserved characters, so a value stays one path segment or one label. */
export function percentEncode(text) {
  return Array.from(new TextEncoder().encode(text), (b) =>
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || '-._~'.includes(String.fromCharCode(b))
      ? String.fromCharCode(b)
      : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
  ).join('');
}

/** `text` with each `{key}` replaced by that non-secret config value, percent-encoded; `what` names the text. */
function fill(text, what, values, schema) {
  let filled = '';
  let rest = text;
  for (let open = rest.indexOf('{'); open >= 0; open = rest.indexOf('{')) {
    const close = rest.indexOf('}', open);
    if (close < 0) throw new HostError('invalid-config', `${what} has an unclosed \`{\``);
    const key = rest.slice(open + 1, close);
    const field = schema.find((f) => f.key === key);
    if (!field || field.secret) throw new HostError('invalid-config', `${what} uses \`{${key}}\`, which is not one of its non-secret config fields`);
    if (!hasKey(values, key)) throw new HostError('invalid-config', `${what} needs config \`${key}\``);
    filled += rest.slice(0, open) + percentEncode(values[key]);
    rest = rest.slice(close + 1);
  }
  return filled + rest;
}

/** `scheme://host:port` of an http(s) URL, with the scheme's default port; a user name or password is refused. */
export function origin(url) {
  // Checked on the text, before anything could echo it: user info may hold a password.
  const authority = url.includes('://') ? url.split('://')[1].split(/[/?#]/)[0] : url;
  if (authority.includes('@')) {
    throw new HostError('invalid-config', 'the base URL must not contain a user name or password (`user:password@`): give credentials as secrets');
  }
  let parsed;
  try {
    parsed = new URL(url);
  } catch (e) {
    throw new HostError('invalid-config', `base URL \`${url}\` is not a URL (${e.message})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new HostError('invalid-config', `base URL \`${url}\` must use http or https`);
  const port = parsed.port || (parsed.protocol === 'http:' ? '80' : '443');
  return `${parsed.protocol}//${parsed.hostname.toLowerCase()}:${port}`;
}

const PLACEMENTS = { basic: 'basic', post: 'form-body', 'form-body': 'form-body', 'json-body': 'json-body' };

/**
 * Resolves `config` (non-secret values) and `secrets` against `metadata`. Returns what the guest gets
 * (`guestConfig`), the allowed origins (the first is authenticated), and the auth plan.
 */
export function resolveTenant(metadata, config, secrets) {
  const schema = metadata.configSchema;
  const keys = schema.map((f) => f.key).join(', ');
  for (const key of Object.keys(config)) {
    const field = schema.find((f) => f.key === key);
    if (!field) throw new HostError('invalid-config', `unknown config key \`${key}\` (this connector takes: ${keys})`);
    if (field.secret) throw new HostError('invalid-config', `\`${key}\` is a secret: pass it as a secret, not as config`);
  }
  for (const key of Object.keys(secrets)) {
    const field = schema.find((f) => f.key === key);
    if (!field) throw new HostError('invalid-config', `unknown secret \`${key}\` (this connector takes: ${keys})`);
    if (!field.secret) throw new HostError('invalid-config', `\`${key}\` is not a secret: pass it as config`);
  }
  for (const field of schema) {
    if (field.choices.length && hasKey(config, field.key) && !field.choices.includes(config[field.key])) {
      throw new HostError('invalid-config', `config \`${field.key}\`: \`${config[field.key]}\` is not one of ${field.choices.join(', ')}`);
    }
  }
  const plain = {};
  for (const field of schema.filter((f) => !f.secret)) {
    if (field.key in config) plain[field.key] = config[field.key];
    else if (field.defaultValue !== undefined && !field.defaultValue.includes('{')) plain[field.key] = field.defaultValue;
  }
  const values = { ...config };
  for (const field of schema) {
    const present = field.secret ? field.key in secrets : field.key in values;
    if (present) continue;
    if (field.defaultValue !== undefined && !field.secret) values[field.key] = fill(field.defaultValue, `the default of \`${field.key}\``, plain, schema);
    else if (field.required) {
      throw new HostError('invalid-config', `missing ${field.secret ? 'secret' : 'required config'} \`${field.key}\` (${field.displayName})`);
    }
  }
  const baseUrl = values[metadata.baseUrlField];
  if (baseUrl === undefined) throw new HostError('invalid-config', `the connector declares \`${metadata.baseUrlField}\` as its base URL, but it has no value`);
  const origins = [origin(baseUrl)];
  for (const field of metadata.extraOriginFields) {
    if (!schema.some((f) => f.key === field && !f.secret)) {
      throw new HostError('invalid-config', `the connector declares \`${field}\` as an origin, but it is not one of its non-secret config fields`);
    }
    if (!hasKey(values, field)) continue;
    try {
      origins.push(origin(values[field]));
    } catch (e) {
      throw new HostError(e.kind, `config \`${field}\`: ${e.message}`);
    }
  }
  // Sorted by key, as connector-harness passes it, so a component sees the same config in either host.
  const guestConfig = Object.entries(values).sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return { guestConfig, origins, auth: authPlan(metadata.auth, baseUrl, values, secrets, schema) };
}

function hasKey(object, key) {
  return Object.prototype.hasOwnProperty.call(object, key);
}

function authPlan(scheme, baseUrl, values, secrets, schema) {
  const secret = (field) => {
    if (!(field in secrets)) throw new HostError('invalid-config', `missing secret \`${field}\` for authentication`);
    return secrets[field];
  };
  switch (scheme.tag) {
    case 'none':
      return { kind: 'none' };
    case 'bearer':
      return { kind: 'bearer', token: secret(scheme.val) };
    case 'oauth2-client-credentials': {
      const o = scheme.val;
      const chosen = o.credentialsInField !== undefined && hasKey(values, o.credentialsInField) ? values[o.credentialsInField].trim().toLowerCase() : undefined;
      const placement = chosen === undefined ? o.credentialsIn : PLACEMENTS[chosen];
      if (!placement) throw new HostError('invalid-config', `config \`${o.credentialsInField}\`: \`${chosen}\` is not a way to send client credentials (basic, post, form-body or json-body)`);
      return {
        kind: 'oauth2',
        tokenUrl: tokenUrl(o.tokenUrl, baseUrl, values, schema),
        clientId: values[o.clientIdField] ?? secrets[o.clientIdField],
        clientSecret: secret(o.clientSecretField),
        credentialsIn: placement,
        grantTypeIn: o.grantTypeIn,
        extraParams: o.extraParams,
      };
    }
    default:
      throw new HostError('unsupported', `auth scheme \`${scheme.tag}\` is not one this host performs`);
  }
}

/** The token endpoint: on the base URL's origin (`/path`) or a config field's (`{field}/path`), never elsewhere. */
function tokenUrl(template, baseUrl, values, schema) {
  let originValue;
  let path;
  if (template.startsWith('/')) {
    originValue = origin(baseUrl);
    path = template;
  } else {
    const match = /^\{([^}]*)\}(.*)$/s.exec(template);
    if (!match) {
      throw new HostError(
        'invalid-config',
        `the connector's token URL \`${template}\` names an origin of its own; a token URL must start with / (the base URL's origin) or with a config field, \`{field}\``,
      );
    }
    if (!schema.some((f) => f.key === match[1] && !f.secret)) {
      throw new HostError('invalid-config', `the connector's token URL starts with \`{${match[1]}}\`, which is not one of its non-secret config fields`);
    }
    if (!hasKey(values, match[1])) throw new HostError('invalid-config', `the connector's token URL needs config \`${match[1]}\``);
    originValue = values[match[1]];
    path = match[2];
  }
  if (!path.startsWith('/')) throw new HostError('invalid-config', `the connector's token URL must continue with a path after its origin, got \`${path}\``);
  const expanded = fill(path, "the connector's token URL", values, schema);
  const named = origin(originValue);
  const url = `${originValue.replace(/\/+$/, '')}${expanded}`;
  // Whatever the values, the endpoint stays on the origin the template names.
  if (origin(url) !== named) throw new HostError('invalid-config', `the token URL \`${url}\` left the origin ${named}`);
  return url;
}
