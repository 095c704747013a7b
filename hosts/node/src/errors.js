// Typed errors a caller can switch on. `ConnectorError` is what the component said (the contract's
// `connector-error` cases); `HostError` is what this host refused or could not do.

/** The component's own error: `kind` is the contract's case (`invalid-config`, `rate-limited`, …). */
export class ConnectorError extends Error {
  constructor(kind, message, retryAfterMs = undefined) {
    super(message ? `${kind}: ${message}` : kind);
    this.name = 'ConnectorError';
    this.kind = kind;
    this.retryAfterMs = retryAfterMs;
  }

  /** From the contract's `connector-error` variant as jco gives it (`{ tag, val }`). */
  static of(variant) {
    const { tag, val } = variant;
    if (tag === 'rate-limited' || tag === 'unavailable') {
      return new ConnectorError(tag, val.message, val.retryAfterMs === undefined ? undefined : Number(val.retryAfterMs));
    }
    return new ConnectorError(tag, typeof val === 'string' ? val : '');
  }

  /** Whether a retry may cure it (the host retries these; the guest never sleeps). */
  get retryable() {
    return this.kind === 'rate-limited' || this.kind === 'unavailable';
  }
}

/**
 * What the host refused or could not do: `invalid-config` (the tenant's settings), `authentication` (the
 * token endpoint refused the credentials), `unavailable` (it could not be reached, or answered 5xx), `egress-denied` (the component broke a sandbox rule, which ends its session),
 * `budget`, `timeout` (a call ran past its deadline), `trap` (the component crashed), `unsupported`.
 */
export class HostError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'HostError';
    this.kind = kind;
  }
}

/**
 * `text` as one printable line, escaped as connector-harness escapes what it prints (host-harness/src/display.rs):
 * control characters and Unicode's bidirectional formatting characters become `\u{…}`, so nothing a source or
 * a flag put in it can drive a terminal, forge a line, or reorder what a reader sees.
 */
export function printable(text) {
  return String(text).replace(/[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, (c) => (c === '\t' ? c : `\\u{${c.codePointAt(0).toString(16)}}`));
}
