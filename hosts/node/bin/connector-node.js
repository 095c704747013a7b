#!/usr/bin/env node
// connector-node: sync a tenant with a connector component from Node and print the same JSON lines as
// `connector-harness export --format jsonl`.
//
//   connector-node sync --component C.wasm --config KEY=VALUE … --secret KEY=VALUE … [--secret-env KEY=VAR …]
//                       [--max-requests N] [--call-timeout-secs S] [--memory-mib M] [--max-response-mib M] [--concurrency N]
//   connector-node inspect --component C.wasm

import { parseArgs } from 'node:util';

import { Connector, ConnectorError, HostError, sync } from '../src/index.js';
import { printable } from '../src/errors.js';

function pairs(items, flag) {
  const out = {};
  for (const item of items ?? []) {
    const at = item.indexOf('=');
    if (at <= 0) throw new HostError('invalid-config', `${flag} takes KEY=VALUE, got \`${item}\``);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

async function main(argv) {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      component: { type: 'string' },
      config: { type: 'string', multiple: true },
      secret: { type: 'string', multiple: true },
      'secret-env': { type: 'string', multiple: true },
      'max-requests': { type: 'string' },
      'call-timeout-secs': { type: 'string' },
      'memory-mib': { type: 'string' },
      'max-response-mib': { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  if (!values.component) throw new HostError('invalid-config', '--component is required');
  const connector = await Connector.load(values.component);
  if (command === 'inspect') {
    process.stdout.write(`${JSON.stringify(connector.metadata(), (_, v) => (typeof v === 'bigint' ? Number(v) : v), 2)}\n`);
    return;
  }
  if (command !== 'sync') throw new HostError('invalid-config', `unknown command \`${command}\` (sync, inspect)`);
  const secrets = pairs(values.secret, '--secret');
  for (const [key, variable] of Object.entries(pairs(values['secret-env'], '--secret-env'))) {
    if (!process.env[variable]) throw new HostError('invalid-config', `secret \`${key}\`: environment variable ${variable} is not set`);
    secrets[key] = process.env[variable];
  }
  const limits = {};
  if (values['max-requests']) limits.maxRequests = Number(values['max-requests']);
  if (values['call-timeout-secs']) limits.callTimeoutMs = Number(values['call-timeout-secs']) * 1000;
  if (values['memory-mib']) limits.memoryMib = Number(values['memory-mib']);
  if (values['max-response-mib']) limits.maxResponseMib = Number(values['max-response-mib']);
  if (values.concurrency) limits.concurrency = Number(values.concurrency);
  const session = await connector.open({ config: pairs(values.config, '--config'), secrets, limits });
  try {
    const result = await sync(session);
    for (const line of result.lines()) process.stdout.write(`${line}\n`);
    const dangling = result.dangling();
    const named = dangling.grants === 0 ? '' : `; ${dangling.grants} grants name a principal or entitlement the source did not list, kept as it says them (e.g. ${dangling.examples.map(printable).join(', ')}${dangling.grants > dangling.examples.length ? ', …' : ''})`;
    process.stderr.write(`synced: ${result.resources.size} resources, ${result.entitlements.size} entitlements, ${result.grants.size} grants; ${session.requests} requests${named}\n`);
  } finally {
    await session.close();
  }
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
