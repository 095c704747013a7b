// The host's one HTTP exit, on the main thread: a component's thread has checked and admitted a request
// (sandbox.js) and waits while it is sent here; the response comes back whole, read no further than the cap.

import http from 'node:http';
import https from 'node:https';

/** The longest a request may wait, as connector-harness allows (`EgressLimits` in host-harness/src/egress.rs): to
 * connect, for the response's head, and between two chunks of its body. A guest may ask for less, not more. */
const TIMEOUTS_MS = { connect: 10_000, firstByte: 60_000, betweenBytes: 30_000 };

/** The timeouts for a request, from what the guest asked (`wasi:http` request options, in ns, each optional). */
function timeoutsMs(asked) {
  const pick = (ns, cap) => (ns === undefined ? cap : Math.min(cap, Number(ns / 1_000_000n)));
  return { connect: pick(asked.connect, TIMEOUTS_MS.connect), firstByte: pick(asked.firstByte, TIMEOUTS_MS.firstByte), betweenBytes: pick(asked.betweenBytes, TIMEOUTS_MS.betweenBytes) };
}

// Connections are kept and reused across requests and instances, as a source's pages come one after another.
const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

/** A failed exchange as a `wasi:http` error code. */
function errorCode(error) {
  const cause = error?.cause ?? error;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return { tag: 'connection-refused' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { tag: 'DNS-error', val: { rcode: cause.code, infoCode: undefined } };
    case 'ETIMEDOUT':
    case 'CONNECT_TIMEOUT':
      return { tag: 'connection-timeout' };
    case 'READ_TIMEOUT':
      return { tag: 'connection-read-timeout' };
    case 'ECONNRESET':
    case 'EPIPE':
      return { tag: 'connection-terminated' };
    default:
      if (/^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(cause?.code ?? '')) return { tag: 'TLS-certificate-error' };
      return { tag: 'internal-error', val: String(cause?.message ?? cause) };
  }
}

/**
 * Sends `request` (`{ method, url, headers: [name, bytes][], body, timeouts, maxBytes }`, `timeouts` what the
 * guest asked for) and answers
 * `{ status, headers, body }`, `{ tooLarge: true }` once the body passes `maxBytes`, or `{ error }` (a `wasi:http`
 * error code); `signal` abandons it.
 */
export function send({ method, url, headers, body, timeouts: asked, maxBytes }, signal) {
  const timeouts = timeoutsMs(asked);
  return new Promise((resolve) => {
    const target = new URL(url);
    const fields = {};
    for (const [name, value] of headers) (fields[name.toLowerCase()] ??= []).push(Buffer.from(value).toString('latin1'));
    if (!['GET', 'HEAD'].includes(method) && !fields['content-length']) fields['content-length'] = String(body.length);
    const client = target.protocol === 'https:' ? https : http;
    const fail = (code) => () => request.destroy(Object.assign(new Error(code), { code }));
    const request = client.request(target, { method, headers: fields, agent: agents[target.protocol], signal }, (response) => {
      // From the head on, the socket's idle time is the wait between two chunks of the body.
      request.setTimeout(timeouts.betweenBytes, fail('READ_TIMEOUT'));
      const chunks = [];
      let size = 0;
      response.on('data', (chunk) => {
        size += chunk.length;
        if (size > maxBytes) {
          resolve({ tooLarge: true });
          request.destroy();
        } else chunks.push(chunk);
      });
      response.on('end', () => {
        // A buffer of its own, never a slice of Node's pool: it is transferred to the component's thread.
        const bytes = new Uint8Array(size);
        let at = 0;
        for (const chunk of chunks) {
          bytes.set(chunk, at);
          at += chunk.length;
        }
        const pairs = [];
        for (let i = 0; i < response.rawHeaders.length; i += 2) pairs.push([response.rawHeaders[i].toLowerCase(), Buffer.from(response.rawHeaders[i + 1], 'latin1')]);
        resolve({ status: response.statusCode, headers: pairs, body: bytes });
      });
      response.on('close', () => {
        // A body cut short is an error, never a shorter body.
        if (!response.complete) resolve({ error: { tag: 'HTTP-protocol-error' } });
      });
    });
    request.on('error', (e) => resolve({ error: errorCode(e) }));
    request.on('socket', (socket) => {
      // Until the head comes, the socket's idle time is the wait for it.
      request.setTimeout(timeouts.firstByte, fail('READ_TIMEOUT'));
      if (!socket.connecting) return;
      const timer = setTimeout(fail('CONNECT_TIMEOUT'), timeouts.connect);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    request.end(body);
  });
}
