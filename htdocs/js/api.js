// The dashboard API client (docs/api.md). Every call returns parsed JSON or throws an
// ApiError with the server's error code, so callers can tell Redis, InfluxDB and memdumpd
// outages apart (503 redis_unavailable / influx_unavailable / service_unavailable).

const BASE = '/api/memory-dumps';
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message, extra) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra || null;
  }
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

async function call(method, path, { params, body } = {}) {
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
    throw new ApiError(res.status, code, msg || code, err);
  }
  if (data === null) throw new ApiError(res.status, 'bad_response', 'The server answered with something that is not JSON.');
  return data;
}

export const api = {
  vms: () => call('GET', '/vms'),
  status: () => call('GET', '/status'),
  stats: () => call('GET', '/stats'),
  records: (params) => call('GET', '/records', { params }),
  trigger: (vms, format) => call('POST', '/trigger', { body: format ? { vms, format } : { vms } }),
  cancel: (id) => {
    if (!isDumpId(id)) return Promise.reject(new ApiError(0, 'invalid_field', 'Not a dump id.'));
    return call('DELETE', `/dumps/${encodeURIComponent(id)}`);
  },
};
