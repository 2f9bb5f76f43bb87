// The dashboard API client (docs/api.md). Every call returns parsed JSON or throws an
// ApiError with the server's error code, so callers can tell Redis, InfluxDB and memdumpd
// outages apart (503 redis_unavailable / influx_unavailable / service_unavailable).
//
// Access control (docs/security.md) is handled here, once, for every call:
// - 401 `unauthenticated` (no session, or it expired or was revoked): the auth hook shows the
//   login form. A GET then waits for the next successful login and is sent again, so polling
//   pauses and resumes by itself with the page untouched; any other method is not repeated
//   (the user decides again) and fails with `sessionEnded` set.
// - 403 `forbidden`: the auth hook reports the server's message (it names the role needed)
//   and the error is marked `shown`, so callers do not report it a second time.

const BASE = '/api/memory-dumps';
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message, extra) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra || null;
    this.retryAfter = null; // seconds, from Retry-After (429)
    this.shown = false;     // already reported to the user (by the auth hook)
    this.sessionEnded = false;
  }
}

const hooks = {
  /** (ApiError) -> Promise resolved after the next successful login */
  unauthenticated: null,
  /** (ApiError, method, path) -> void: tell the user */
  forbidden: null,
  /** () -> the Promise of the login being waited for, or null */
  pending: null,
};

/** Install the 401/403 handlers (auth.js). */
export function setAuthHooks(h) {
  Object.assign(hooks, h);
}

/** Dump ids look like 20261122T183000Z-0123456789ab (lib/dump.h). */
export const DUMP_ID_RE = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$/;

export function isDumpId(id) {
  return typeof id === 'string' && DUMP_ID_RE.test(id);
}

export function downloadUrl(id) {
  if (!isDumpId(id)) return null;
  return `${BASE}/dumps/${encodeURIComponent(id)}/download`;
}

function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined || v === '') continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

async function call(method, path, opts = {}) {
  // while the login form is up, nothing else is sent: it would only be refused again
  const wait = !opts.noAuthHook && hooks.pending ? hooks.pending() : null;
  if (wait) {
    if (method !== 'GET') {
      const e = new ApiError(401, 'unauthenticated', 'Your session has ended; log in again.');
      e.sessionEnded = true;
      e.shown = true;
      throw e;
    }
    await wait;
  }
  try {
    return await callOnce(method, path, opts);
  } catch (e) {
    if (!(e instanceof ApiError) || opts.noAuthHook) throw e;
    if (e.status === 401 && e.code === 'unauthenticated' && hooks.unauthenticated) {
      const again = hooks.unauthenticated(e);
      if (method === 'GET') {
        await again;
        return call(method, path, opts);
      }
      e.sessionEnded = true;
      e.shown = true;
      e.message = 'Your session has ended; log in again.';
    } else if (e.status === 403 && hooks.forbidden) {
      hooks.forbidden(e, method, path);
      e.shown = true;
    }
    throw e;
  }
}

async function callOnce(method, path, { params, body } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  const init = { method, headers: { Accept: 'application/json' }, signal: ctrl.signal, cache: 'no-store', credentials: 'same-origin' };
  if (method !== 'GET') {
    // state-changing calls need this even without a body (docs/api.md: 415 otherwise)
    init.headers['Content-Type'] = 'application/json';
  }
  if (body !== undefined) init.body = JSON.stringify(body);
  let res;
  try {
    res = await fetch(BASE + path + query(params), init);
  } catch (e) {
    const aborted = e && e.name === 'AbortError';
    throw new ApiError(0, 'api_unreachable',
      aborted ? 'The memdump API did not answer in time.' : 'The memdump API cannot be reached.');
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (!res.ok) {
    const err = data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : null;
    let code = err && typeof err.code === 'string' ? err.code : null;
    let msg = err && typeof err.message === 'string' ? err.message : null;
    if (!code) {
      // nginx answers 502/504 itself when no worker answers
      code = res.status === 502 || res.status === 504 ? 'api_unreachable' : `http_${res.status}`;
      msg = res.status === 502 || res.status === 504
        ? 'The memdump API (memdump-api) is not answering behind nginx.'
        : `The server answered ${res.status} ${res.statusText}.`;
    }
    const ae = new ApiError(res.status, code, msg || code, err);
    const ra = res.headers.get('Retry-After');
    if (ra && /^[0-9]{1,6}$/.test(ra.trim())) ae.retryAfter = Number(ra.trim());
    throw ae;
  }
  if (data === null) throw new ApiError(res.status, 'bad_response', 'The server answered with something that is not JSON.');
  return data;
}

export const api = {
  // the session calls never go through the hooks: their 401 is the answer itself
  session: () => call('GET', '/session', { noAuthHook: true }),
  login: (user, password) => call('POST', '/session', { body: { user, password }, noAuthHook: true }),
  logout: () => call('DELETE', '/session', { noAuthHook: true }),
  audit: (params) => call('GET', '/audit', { params }),
  vms: () => call('GET', '/vms'),
  status: () => call('GET', '/status'),
  vmStatus: (vm) => call('GET', `/status/${encodeURIComponent(vm)}`),
  stats: () => call('GET', '/stats'),
  records: (params) => call('GET', '/records', { params }),
  trigger: (vms, format) => call('POST', '/trigger', { body: format ? { vms, format } : { vms } }),
  cancel: (id) => {
    if (!isDumpId(id)) return Promise.reject(new ApiError(0, 'invalid_field', 'Not a dump id.'));
    return call('DELETE', `/dumps/${encodeURIComponent(id)}`);
  },
};
