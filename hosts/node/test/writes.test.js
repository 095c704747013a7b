// A session's writes are checked here before the component is called (wit/HOSTS.md §5): the declared write
// schema refuses a create without a required field, and no request leaves. Run by `tests/e2e/node_host.rs`,
// which names the current Pingboard component in CONNECTOR_COMPONENT.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Connector } from '../src/connector.js';

const component = process.env.CONNECTOR_COMPONENT;

test('a create the write schema refuses never reaches the component', { skip: component === undefined && 'CONNECTOR_COMPONENT is not set' }, async () => {
  const connector = await Connector.load(component);
  assert.deepEqual(connector.metadata().writeSchemas.find((s) => s.resourceType === 'user').fields.filter((f) => f.requiredOnCreate).map((f) => f.name), ['first_name', 'last_name', 'email']);
  // Nothing listens on port 9: a request would fail, not be refused.
  const session = await connector.open({ config: { base_url: 'http://127.0.0.1:9', client_id: 'id' }, secrets: { client_secret: 's' }, provisioning: true });
  try {
    await assert.rejects(session.createAccount([['first_name', 'Ada'], ['email', 'ada@example.com']]), { kind: 'refused', message: 'create-account needs `last_name`' });
    await assert.rejects(session.updateResource({ resourceType: 'user', id: '1' }, [['shoe_size', '9']]), (e) => e.kind === 'refused' && e.message.startsWith('update-resource: unknown field `shoe_size`'));
    assert.equal(session.requests, 0);
  } finally {
    await session.close();
  }
});
