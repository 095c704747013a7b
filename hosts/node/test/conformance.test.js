// The host conformance kit (`wit/conformance/`), run against this host with `node --test`: every case file, its
// expected result or error. `host-harness/src/conformance.rs` runs the same files against connector-harness.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { Connector } from '../src/connector.js';
import { metadataOf } from '../src/contract.js';
import { fieldsRefusal, refusal } from '../src/grants.js';
import { SyncResult } from '../src/sync.js';
import { resolveTenant } from '../src/tenant.js';

const REPOSITORY = join(import.meta.dirname, '..', '..', '..');
const CASES = join(REPOSITORY, 'wit', 'conformance', 'cases');

/** Capability names as jco's flags object (`inline-grants` → `inlineGrants: true`). */
function flags(names) {
  return Object.fromEntries(names.map((name) => [name.replace(/-([a-z])/g, (_, c) => c.toUpperCase()), true]));
}

/** The case's outcome, in the terms its file states it. */
async function run(kase) {
  if (kase.resolve) {
    const { metadata, config, secrets } = kase.resolve;
    try {
      const tenant = resolveTenant(metadataOf(metadata), config, secrets);
      return { expect: { guestConfig: tenant.guestConfig, origins: tenant.origins, tokenUrl: tenant.auth.tokenUrl ?? null } };
    } catch (e) {
      return { error: e.message };
    }
  }
  if (kase.sync) {
    const result = new SyncResult();
    result.resourceTypes = kase.sync.resourceTypes;
    result.capabilities = kase.sync.capabilities.map((c) => ({ resourceType: c.resourceType, capabilities: flags(c.capabilities), listedWith: c.listedWith }));
    for (const page of kase.sync.pages) result.addPage(page);
    return { expect: { lines: [...result.lines()] } };
  }
  if (kase.call) {
    const { capabilities, provisioning, call, resourceType, capability, writeSchemas, write, fields } = kase.call;
    const declared = capabilities.map((c) => ({ resourceType: c.resourceType, capabilities: flags(c.capabilities) }));
    const reason = refusal(declared, provisioning, call, resourceType, capability) ?? (write ? fieldsRefusal(writeSchemas ?? [], call, resourceType, write, fields) : null);
    return reason === null ? { allowed: true } : { refused: reason };
  }
  const connector = await Connector.load(join(REPOSITORY, kase.load.component));
  const metadata = connector.metadata();
  return {
    expect: {
      contract: connector.contract,
      name: metadata.name,
      tokenUrl: metadata.auth.tag === 'oauth2-client-credentials' ? metadata.auth.val.tokenUrl : null,
      extraOriginFields: metadata.extraOriginFields,
      choices: Object.fromEntries(metadata.configSchema.map((f) => [f.key, f.choices])),
      requiredOnCreate: Object.fromEntries(metadata.writeSchemas.map((s) => [s.resourceType, s.fields.filter((f) => f.requiredOnCreate).map((f) => f.name)])),
    },
  };
}

const files = readdirSync(CASES).filter((f) => f.endsWith('.json')).sort();

test('the kit has its cases', () => {
  assert.ok(files.length >= 25, `${files.length} cases in ${CASES}`);
});

for (const file of files) {
  const kase = JSON.parse(readFileSync(join(CASES, file), 'utf8'));
  test(`${file}: ${kase.about}`, async () => {
    const got = await run(kase);
    const expected = Object.fromEntries(Object.entries(kase).filter(([k]) => ['expect', 'error', 'allowed', 'refused'].includes(k)));
    // An error or a refusal agrees when the host's text begins with the case's (a host may add its own hint).
    for (const key of ['error', 'refused']) {
      if (key in expected) {
        assert.equal(typeof got[key], 'string', `expected ${key} ${JSON.stringify(expected[key])}, got ${JSON.stringify(got)}`);
        assert.ok(got[key].startsWith(expected[key]), `expected ${key} beginning ${JSON.stringify(expected[key])}, got ${JSON.stringify(got[key])}`);
        return;
      }
    }
    assert.deepEqual(got, expected);
  });
}
