// Run identity:connector WebAssembly components from Node.js with the contract's host duties done for you
// (wit/HOSTS.md): authentication host-side, only the tenant's origins, no environment or files, a deadline
// per call, a request budget, retries of what the source says a retry may cure, and the component on a thread
// of its own.
//
//   import { Connector, sync } from '@identity-connector/node-host';
//   const connector = await Connector.load('pingboard_connector.wasm');
//   const session = await connector.open({ config: { client_id: '…' }, secrets: { client_secret: '…' } });
//   for await (const { resourceType, page } of pages(session)) { … }      // every page as it arrives, or:
//   const result = await sync(session);
//   for (const line of result.lines()) console.log(line);

export { Connector, DEFAULT_LIMITS, Session } from './connector.js';
export { ConnectorError, HostError } from './errors.js';
export { SyncResult, pages, sync } from './sync.js';
