#!/usr/bin/env node
// connector-node: sync a tenant with a connector component from Node and print the same JSON lines as
// `connector-harness export --format jsonl`. Secrets come from the environment or a file, never from the
// command line, where every process on the machine could read them.

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';

import { Connector, ConnectorError, HostError, sync } from '../src/index.js';
import { printable } from '../src/errors.js';

// A sync runs the same JS (the component's bindings, the export's lines) on several threads, a V8 isolate each,
// and each would compile it again with the optimising compiler within its first second. Optimising later (after
// about 15 times V8's default budget of bytecode), only what stays hot, spends less of the run compiling
// (BENCHMARKS.md, session 16). V8's flags are the process's: the command line sets this one,
// the library does not, since the process it runs in is its user's.
setFlagsFromString('--interrupt-budget=2000000');

function pairs(items, flag) {
  const out = {};
  for (const item of items ?? []) {
    const at = item.indexOf('=');
    if (at <= 0) throw new HostError('invalid-config', `${flag} takes KEY=VALUE, got \`${item}\``);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

const USAGE = `Usage: connector-node <command> [options]

Commands:
  sync      sync a tenant and print its export, one JSON line per record (as connector-harness export --format jsonl)
  inspect   print what a component declares: its contract version, config schema, auth scheme and capabilities

Options:
  --component PATH          the connector component (.wasm)
  --config KEY=VALUE        a non-secret config value (repeat for each)
  --secret-env KEY=VAR      a secret, from environment variable VAR
  --secret-file KEY=PATH    a secret, from a file (its trailing newline dropped)
  --max-requests N          the sync's request budget, token requests included
  --call-timeout-secs S     the deadline of one call into the component (300)
  --memory-mib M            the component's memory cap (256)
  --max-response-mib M      the largest response body (64)
  --log-kib K               how much of the component's stdout and stderr is kept and shown (64)
  --concurrency N           instances of the component fetching at once (4)
  -h, --help                print this help
`;

/** A limit's value from the command line: a number above zero (`whole`: an integer), or a refusal naming the flag. */
function amount(flag, text, whole) {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (whole && !Number.isInteger(value))) {
    throw new HostError('invalid-config', `--${flag} takes ${whole ? 'a whole number' : 'a number'} above 0, got \`${text}\``);
  }
  return value;
}

/** `parseArgs`, its refusal of a flag as one line. */
function parseArgsOr(config) {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new HostError('invalid-config', `${e.message}; --help says more`);
  }
}

/** Secrets from `--secret-env KEY=VAR` and `--secret-file KEY=PATH`. */
function secretsOf(values) {
  const secrets = {};
  for (const [key, variable] of Object.entries(pairs(values['secret-env'], '--secret-env'))) {
    if (!process.env[variable]) throw new HostError('invalid-config', `secret \`${key}\`: environment variable ${variable} is not set`);
    secrets[key] = process.env[variable];
  }
  for (const [key, path] of Object.entries(pairs(values['secret-file'], '--secret-file'))) {
    let text;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new HostError('invalid-config', `secret \`${key}\`: cannot read ${path} (${e.code ?? e.message})`);
    }
    secrets[key] = text.replace(/[\r\n]+$/, '');
  }
  return secrets;
}

async function main(argv) {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (rest.some((arg) => arg === '--secret' || arg.startsWith('--secret='))) {
    throw new HostError('invalid-config', '--secret is not taken: a secret on the command line is visible to every process on the machine; use --secret-env KEY=VAR or --secret-file KEY=PATH');
  }
  const { values } = parseArgsOr({
    args: rest,
    options: {
      help: { type: 'boolean', short: 'h' },
      component: { type: 'string' },
      config: { type: 'string', multiple: true },
      'secret-env': { type: 'string', multiple: true },
      'secret-file': { type: 'string', multiple: true },
      'max-requests': { type: 'string' },
      'call-timeout-secs': { type: 'string' },
      'memory-mib': { type: 'string' },
      'max-response-mib': { type: 'string' },
      'log-kib': { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (command !== 'sync' && command !== 'inspect') throw new HostError('invalid-config', `unknown command \`${command}\` (sync, inspect; --help says more)`);
  if (!values.component) throw new HostError('invalid-config', '--component is required');
  const connector = await Connector.load(values.component);
  if (command === 'inspect') {
    const declared = { contract: connector.contract, ...connector.metadata() };
    process.stdout.write(`${JSON.stringify(declared, (_, v) => (typeof v === 'bigint' ? Number(v) : v), 2)}\n`);
    return;
  }
  const secrets = secretsOf(values);
  const limits = {};
  const given = (flag, key, scale = 1, whole = true) => {
    if (values[flag] !== undefined) limits[key] = amount(flag, values[flag], whole) * scale;
  };
  given('max-requests', 'maxRequests');
  given('call-timeout-secs', 'callTimeoutMs', 1000, false);
  given('memory-mib', 'memoryMib');
  given('max-response-mib', 'maxResponseMib');
  given('log-kib', 'logKib');
  given('concurrency', 'concurrency');
  const session = await connector.open({ config: pairs(values.config, '--config'), secrets, limits });
  let result;
  let requests;
  try {
    result = await sync(session);
    requests = session.requests;
  } finally {
    // The component threads end before the export is written: their memory is not the export's.
    await session.close();
  }
  // Written in chunks of about 1 MiB, each after the last has drained: a pipe's reader sets the pace, and the
  // export is never held twice in memory.
  for (const chunk of result.chunks()) {
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  }
  const dangling = result.dangling();
  const named = dangling.grants === 0 ? '' : `; ${dangling.grants} grants name a principal or entitlement the source did not list, kept as it says them (e.g. ${dangling.examples.map(printable).join(', ')}${dangling.grants > dangling.examples.length ? ', …' : ''})`;
  process.stderr.write(`synced: ${result.resources.size} resources, ${result.entitlements.size} entitlements, ${result.grants.size} grants; ${requests} requests${named}\n`);
}

// Exit codes are set, not forced: a forced exit would cut off output still on its way down a pipe.
main(process.argv.slice(2)).then(
  () => {
    process.exitCode = 0;
  },
  (e) => {
    const known = e instanceof ConnectorError || e instanceof HostError;
    // What a source or a flag said is escaped: a token endpoint's error text must not drive the terminal.
    process.stderr.write(`error: ${printable(known ? e.message : (e?.stack ?? e))}\n`);
    process.exitCode = 1;
  },
);
