// A guest's stdout and stderr, as connector-harness treats them (host-harness/src/guest_log.rs): kept up to a cap
// per instance and passed on as lines the host prefixes and escapes, so that a guest can neither fill the host's
// memory nor forge the host's own lines or drive a terminal. Past the cap its writes still succeed, and are counted.

import { printable } from './errors.js';

const decoder = new TextDecoder();

export class GuestLog {
  #cap;
  /** Bytes the guest may still have kept: the cap counts what was ever kept, not what is waiting. */
  #room;
  #pending = [];
  #dropped = 0;
  #emit;

  /** `emit(line)` passes a line on, already prefixed and escaped. */
  constructor(capBytes, emit) {
    this.#cap = capBytes;
    this.#room = capBytes;
    this.#emit = emit;
  }

  /** What the guest wrote (`wasi:cli/stdout` and `stderr`). */
  write(bytes) {
    const kept = Math.min(bytes.length, this.#room);
    this.#room -= kept;
    this.#dropped += bytes.length - kept;
    if (kept === 0) return;
    const piece = Buffer.from(bytes.buffer, bytes.byteOffset, kept);
    this.#pending.push(piece);
    // Whole lines are passed on as they come (a newline byte is never part of a longer UTF-8 character).
    if (!piece.includes(10)) return;
    const all = Buffer.concat(this.#pending);
    const end = all.lastIndexOf(10);
    for (const line of decoder.decode(all.subarray(0, end)).split('\n')) this.#line(line);
    this.#pending = end + 1 < all.length ? [all.subarray(end + 1)] : [];
  }

  /** At the end of a call: the last line even without its newline, and how much was dropped. */
  flush() {
    if (this.#pending.length) this.#line(decoder.decode(Buffer.concat(this.#pending)));
    this.#pending = [];
    if (this.#dropped > 0) this.#emit(`[component] [${this.#dropped} more bytes dropped: the guest log is capped at ${this.#cap >> 10} KiB]`);
    this.#dropped = 0;
  }

  #line(line) {
    this.#emit(`[component] ${printable(line.replace(/\r$/, ''))}`);
  }
}
