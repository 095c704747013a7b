// The memory cap: a core module's own memories get a maximum, so `memory.grow` past it fails inside the
// guest (an allocation failure, then a trap) instead of taking the host's memory. jco has no such option;
// the binary's memory section is rewritten before it is compiled.

const PAGE = 65536;

function readLeb(bytes, at) {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, at];
}

function leb(value) {
  const out = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

/** `bytes` (a core wasm module) with every memory it defines limited to `maxBytes`. */
export function capMemory(bytes, maxBytes) {
  const cap = Math.max(1, Math.floor(maxBytes / PAGE));
  // Sections are copied as slices (a code section is megabytes), the memory section rebuilt.
  const parts = [bytes.subarray(0, 8)];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, start] = readLeb(bytes, at + 1);
    const end = start + size;
    if (id !== 5) {
      parts.push(bytes.subarray(at, end));
      at = end;
      continue;
    }
    let [count, p] = readLeb(bytes, start);
    const section = leb(count);
    while (count-- > 0) {
      const flags = bytes[p++];
      if (flags > 1) throw new Error('a shared or 64-bit memory: this host cannot cap it');
      let min;
      [min, p] = readLeb(bytes, p);
      let max = cap;
      if (flags === 1) {
        let declared;
        [declared, p] = readLeb(bytes, p);
        max = Math.min(declared, cap);
      }
      if (min > max) throw new Error(`the component needs ${min * PAGE} bytes of memory to start, over the cap of ${cap * PAGE}`);
      section.push(1, ...leb(min), ...leb(max));
    }
    parts.push(Uint8Array.from([5, ...leb(section.length), ...section]));
    at = end;
  }
  return Buffer.concat(parts);
}
