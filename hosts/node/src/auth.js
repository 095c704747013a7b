// Host-side authentication, as the component declares it: none, a static bearer token, or OAuth 2.0 client
// credentials (the token kept until shortly before it expires, fetched again when the source refuses it).
// The guest never sees a secret or a token.

import { HostError } from './errors.js';

export class Authenticator {
  #plan;
  #token = null;
  #expires = 0;
  /** A token request in flight: instances asking at once share it. */
  #fetching = null;
  /** Why the token endpoint last failed, for the error the caller sees: a `HostError` of kind `authentication`
   * (the credentials were refused) or `unavailable` (unreachable, 5xx, 429, 408: it may pass). */
  failure = null;
  /** Token requests sent. */
  requests = 0;

  constructor(plan) {
    this.#plan = plan;
  }

  get kind() {
    return this.#plan.kind;
  }

  /** The token to send, or null when none can be had (the reason is in `failure`). */
  async token(stale) {
    const plan = this.#plan;
    if (plan.kind === 'none') return null;
    if (plan.kind === 'bearer') return plan.token;
    if (stale && !this.#fetching) this.#token = null;
    if (this.#token && Date.now() < this.#expires) return this.#token;
    this.#fetching ??= this.#fetch().then(
      ({ token, lifetime }) => {
        this.#token = token;
        // Renewed a little before it runs out.
        this.#expires = Date.now() + Math.max(0, lifetime - 30) * 1000;
        this.failure = null;
        return token;
      },
      (e) => {
        this.failure = e instanceof HostError ? e : new HostError('authentication', e.message);
        return null;
      },
    );
    try {
      return await this.#fetching;
    } finally {
      this.#fetching = null;
    }
  }

  async #fetch() {
    const plan = this.#plan;
    const headers = { accept: 'application/json' };
    const params = new URLSearchParams();
    const query = new URLSearchParams();
    (plan.grantTypeIn === 'query' ? query : params).set('grant_type', 'client_credentials');
    for (const [k, v] of plan.extraParams) (plan.grantTypeIn === 'query' ? query : params).set(k, v);
    let body;
    if (plan.credentialsIn === 'basic') {
      const pair = `${encodeURIComponent(plan.clientId)}:${encodeURIComponent(plan.clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    } else if (plan.credentialsIn === 'form-body') {
      params.set('client_id', plan.clientId);
      params.set('client_secret', plan.clientSecret);
    }
    if (plan.credentialsIn === 'json-body') {
      headers['content-type'] = 'application/json';
      body = JSON.stringify({ ...Object.fromEntries(params), client_id: plan.clientId, client_secret: plan.clientSecret });
    } else {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = params.toString();
    }
    const url = query.size ? `${plan.tokenUrl}?${query}` : plan.tokenUrl;
    this.requests += 1;
    let response;
    try {
      response = await fetch(url, { method: 'POST', headers, body, redirect: 'error' });
    } catch (e) {
      throw new HostError('unavailable', `the token endpoint ${plan.tokenUrl} could not be reached: ${e.cause?.code ?? e.message}`);
    }
    const text = await response.text();
    let answer = null;
    try {
      answer = JSON.parse(text);
    } catch {
      // Not JSON: said below.
    }
    if (response.ok && typeof answer?.access_token === 'string' && answer.access_token) {
      return { token: answer.access_token, lifetime: Number(answer.expires_in ?? 300) };
    }
    const said = [answer?.error, answer?.error_description].filter((t) => typeof t === 'string').map((t) => t.slice(0, 200).replaceAll(plan.clientSecret, '…'));
    const reason = said.length ? `: ${said.join(': ')}` : '';
    const refused = [400, 401, 403].includes(response.status);
    const passing = response.status >= 500 || [408, 429].includes(response.status);
    throw new HostError(
      passing ? 'unavailable' : 'authentication',
      refused
        ? `the token endpoint ${plan.tokenUrl} refused the client credentials (HTTP ${response.status}${reason})`
        : `the token endpoint ${plan.tokenUrl} answered HTTP ${response.status}${reason}`,
    );
  }
}
