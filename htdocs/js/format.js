// Pure formatting helpers (no DOM).

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function bytes(v) {
  const n = num(v);
  if (n === null || n < 0) return '–';
  let i = 0;
  let x = n;
  while (x >= 1024 && i < UNITS.length - 1) { x /= 1024; i++; }
  return `${i === 0 ? x : x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2)} ${UNITS[i]}`;
}

export function rate(v) {
  const n = num(v);
  return n === null ? '–' : `${bytes(n)}/s`;
}

export function duration(v) {
  const n = num(v);
  if (n === null || n < 0) return '–';
  if (n < 1) return `${Math.round(n * 1000)} ms`;
  if (n < 60) return `${n < 10 ? n.toFixed(1) : Math.round(n)} s`;
  const s = Math.round(n);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h} h ${m} min` : `${m} min ${r} s`;
}

export function parseTime(v) {
  if (typeof v !== 'string' || !v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n) => String(n).padStart(2, '0');

/** Local "YYYY-MM-DD HH:MM:SS". */
export function dateTime(v) {
  const d = v instanceof Date ? v : parseTime(v);
  if (!d) return '–';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function clock(d) {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function ago(v, now = Date.now()) {
  const d = v instanceof Date ? v : parseTime(v);
  if (!d) return '';
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function shortHash(h) {
  return typeof h === 'string' && h.length > 16 ? `${h.slice(0, 12)}…` : (h || '–');
}

/** A SHA-256 as memdumpd writes it (64 hex digits); anything else is never offered for copying. */
export function isSha256(h) {
  return typeof h === 'string' && /^[0-9a-fA-F]{64}$/.test(h);
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : (many || `${one}s`)}`;
}

export const DUMP_STATES = ['queued', 'running', 'completed', 'failed', 'cancelled'];
export const VM_STATES = ['running', 'blocked', 'paused', 'shutdown', 'shutoff', 'crashed', 'pmsuspended', 'unknown'];

/** A state word safe for a class name: one of the known ones, or "unknown". */
export function dumpState(s) {
  return DUMP_STATES.includes(s) ? s : 'unknown';
}
export function vmState(s) {
  return VM_STATES.includes(s) ? s : 'unknown';
}

/** Local calendar date (YYYY-MM-DD from an <input type=date>) to an RFC 3339 UTC instant. */
export function localDayStart(ymd) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd || '');
  if (!m) return null;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 0, 0, 0, 0);
}
export function localDayEnd(ymd) {
  const d = localDayStart(ymd);
  if (!d) return null;
  return new Date(d.getFullYear(), d.getMonth(), d.getDate(), 23, 59, 59, 999);
}
