// The component's thread: instantiates one transpiled connector component with only the imports the contract
// allows, guarded (see sandbox.js), and answers the main thread's calls one at a time. A guest call runs
// synchronously here, so the main thread stays free; when it needs a token, or a request sent (egress.js), it asks
// the main thread and waits.

import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { views } from './counters.js';
import { GuestLog } from './guest_log.js';
import { rendered } from './lines.js';
import { capMemory } from './memory.js';
import { sandboxImports } from './sandbox.js';

const { dir, name, policy, shared, questions } = workerData;

const answered = new Int32Array(shared.answered);

/** Asks the main thread (connector.js, `#answer`) and waits for its reply. */
function ask(question, transfer = []) {
  Atomics.store(answered, 0, 0);
  questions.postMessage(question, transfer);
  Atomics.wait(answered, 0, 0);
  return receiveMessageOnPort(questions).message;
}

/** The tenant's token (a fresh one after `stale`), or `null`. */
const token = (stale) => ask({ kind: 'token', stale });

/** The whole answer to a request the sandbox admitted, which the main thread sends (egress.js). */
const exchange = (request) => ask({ kind: 'send', request }, [request.body.buffer]);

const log = new GuestLog(policy.logBytes, (line) => parentPort.postMessage({ kind: 'log', line }));
const imports = sandboxImports({ policy, token, exchange, output: (bytes) => log.write(bytes), counters: views(shared.counters) });
// jco's bindings probe for JSPI (not in Node 20) by calling `WebAssembly.promising` a dozen times, keeping the
// function itself when the call fails. Each failure is a TypeError whose message V8 writes by parsing again the
// function the call is in, the bindings' instantiate of some 20,000 lines: 120 ms of an instance's 150 to start
// (BENCHMARKS.md, session 21). Without JSPI the identity gives the bindings what the failed calls did.
WebAssembly.promising ??= (exported) => exported;
const module = await import(pathToFileURL(join(dir, `${name}.js`)).href);
const getCoreModule = (path) => readFile(join(dir, path)).then((bytes) => WebAssembly.compile(capMemory(bytes, policy.memoryBytes)));
const root = await module.instantiate(getCoreModule, imports);
const connector = root.connector ?? root['identity:connector/connector'];

let session = null;

/** A guest error (`result::err`), a trap, or a refusal by the sandbox, as plain data for the main thread. */
function failure(e) {
  if (e && typeof e === 'object' && 'payload' in e) return { error: e.payload };
  return { trap: String(e?.message ?? e) };
}

parentPort.on('message', (message) => {
  const { id, op, args, render } = message;
  let answer;
  let transfer = [];
  try {
    if (op === 'metadata') answer = { ok: connector.metadata() };
    else if (op === 'open') {
      session = connector.open(args[0], args[1]);
      answer = { ok: null };
    } else if (render) {
      // The page's lines are moved to the main thread, not copied.
      const page = rendered(session[op](...args));
      answer = { ok: page };
      transfer = [page.lines.buffer, page.ends.buffer];
    } else {
      answer = { ok: session[op](...args) };
    }
  } catch (e) {
    answer = failure(e);
  }
  log.flush();
  parentPort.postMessage({ kind: 'answer', id, ...answer }, transfer);
});
parentPort.postMessage({ kind: 'ready' });
