// The main thread's HTTP exit (src/egress.js), against a server on loopback: what a guest is answered when a
// source stalls, cuts a body short, or sends more than the cap.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import { send } from '../src/egress.js';

let server;
let base;

before(async () => {
  server = createServer((request, response) => {
    if (request.url === '/stall') return; // never answers
    if (request.url === '/stall-body') {
      response.writeHead(200, { 'content-length': '10' });
      response.write('12345'); // and never the rest
      return;
    }
    if (request.url === '/cut') {
      response.writeHead(200, { 'content-length': '10' });
      response.end('12345');
      request.socket.destroy();
      return;
    }
    const body = request.url === '/big' ? 'x'.repeat(2048) : 'hello';
    response.writeHead(200, { 'content-type': 'text/plain', 'x-twice': ['a', 'b'] });
    response.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

const get = (path, extra = {}) => send({ method: 'GET', url: `${base}${path}`, headers: [], body: new Uint8Array(0), timeouts: {}, maxBytes: 1024, ...extra });

test('a response comes back whole, its headers as the source sent them', async () => {
  const answer = await get('/');
  assert.equal(answer.status, 200);
  assert.equal(Buffer.from(answer.body).toString(), 'hello');
  const twice = answer.headers.filter(([name]) => name === 'x-twice').map(([, value]) => Buffer.from(value).toString());
  assert.deepEqual(twice, ['a', 'b']);
});

test('a body past the cap is not read on', async () => {
  assert.deepEqual(await get('/big'), { tooLarge: true });
});

test('a source that stalls before its head or within its body is a read timeout, as long as the guest asked', async () => {
  const timeouts = { firstByte: 200_000_000n, betweenBytes: 200_000_000n };
  assert.deepEqual(await get('/stall', { timeouts }), { error: { tag: 'connection-read-timeout' } });
  assert.deepEqual(await get('/stall-body', { timeouts }), { error: { tag: 'connection-read-timeout' } });
});

test('a body cut short is a protocol error, not a shorter body', async () => {
  assert.deepEqual(await get('/cut'), { error: { tag: 'HTTP-protocol-error' } });
});

test('nothing listening is a refused connection', async () => {
  const answer = await send({ method: 'GET', url: 'http://127.0.0.1:9/', headers: [], body: new Uint8Array(0), timeouts: {}, maxBytes: 1024 });
  assert.deepEqual(answer, { error: { tag: 'connection-refused' } });
});
