// Page-wide feedback: toasts (3 s), the activity log (last 20 events), the outage banner,
// modal dialogs (focus trapped and restored, Escape and click-outside close) and copying.

import { el, clear, setText, $ } from './dom.js';
import { clock } from './format.js';

const TOAST_MS = 3000;
const LOG_MAX = 20;
const LEVELS = ['info', 'success', 'warning', 'error'];

/* ---- toasts and activity log --------------------------------------------------- */

export function toast(message, level = 'info') {
  const lv = LEVELS.includes(level) ? level : 'info';
  const box = $('toasts');
  // An error is read out once, assertively, from #alerts: its toast (text only, nothing
  // focusable) is hidden from assistive technology so the polite region does not repeat it.
  const t = el('div', lv === 'error' ? { class: `toast toast-${lv}`, 'aria-hidden': 'true' }
    : { class: `toast toast-${lv}` }, message);
  box.appendChild(t);
  while (box.children.length > 4) box.removeChild(box.firstChild);
  if (lv === 'error') {
    const a = $('alerts');
    setText(a, '');
    setTimeout(() => setText(a, message), 30);
  }
  setTimeout(() => t.remove(), TOAST_MS);
}

const logEntries = [];

export function logEvent(message, level = 'info') {
  const lv = LEVELS.includes(level) ? level : 'info';
  logEntries.unshift({ at: new Date(), message: String(message), level: lv });
  logEntries.length = Math.min(logEntries.length, LOG_MAX);
  const list = $('activity');
  clear(list);
  for (const e of logEntries) {
    const dot = { info: 'dot', success: 'dot dot-ok', warning: 'dot dot-warn', error: 'dot dot-bad' }[e.level];
    list.appendChild(el('li', { class: `log-${e.level}` },
      el('time', { datetime: e.at.toISOString() }, clock(e.at)),
      el('span', { class: dot, 'aria-hidden': 'true' }),
      el('span', { class: 'msg' }, e.message)));
  }
  $('activity-empty').hidden = logEntries.length > 0;
}

/** Toast + log in one call: what every action reports. */
export function notify(message, level = 'info') {
  toast(message, level);
  logEvent(message, level);
}

/* ---- outage banner ------------------------------------------------------------- */

// Problems are reported per data source ("status", "vms", "records", "stats", ...) and per
// kind ("redis", "influx", "api", "svc:URL", ...). A source that answers again clears what it
// reported; the banner shows each kind once, saying which part is down.
const problems = new Map(); // `${source}|${kind}` -> message

export function setProblem(source, kind, message) {
  problems.set(`${source}|${kind}`, message);
}

export function clearSource(source) {
  for (const k of [...problems.keys()]) if (k.startsWith(`${source}|`)) problems.delete(k);
}

export function hasProblemKind(kind) {
  return [...problems.keys()].some((k) => k.endsWith(`|${kind}`));
}

let lastBannerText = '';

export function renderBanner() {
  const banner = $('banner');
  const byKind = new Map();
  for (const [k, m] of problems) {
    const kind = k.slice(k.indexOf('|') + 1);
    if (!byKind.has(kind)) byKind.set(kind, m);
  }
  const items = [...byKind.values()];
  const text = items.join('\n');
  if (text === lastBannerText) return;
  lastBannerText = text;
  const list = $('banner-list');
  clear(list);
  if (!items.length) {
    banner.hidden = true;
    return;
  }
  setText($('banner-title'), items.length === 1 ? 'A part of memdump is down' : `${items.length} parts of memdump are down`);
  for (const m of items) list.appendChild(el('li', null, m));
  banner.hidden = false;
}

/* ---- dialogs ------------------------------------------------------------------- */

const FOCUSABLE = 'a[href]:not([hidden]), button:not([disabled]):not([hidden]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** Keep Tab and Shift+Tab inside `box` (a dialog). */
export function trapTab(box) {
  box.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Tab') return;
    const items = [...box.querySelectorAll(FOCUSABLE)].filter((n) => n.offsetParent !== null);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
  });
}

/**
 * Wire a <dialog>: Escape (native cancel) and a click on the backdrop close it, Tab is
 * kept inside, and focus returns to what had it before opening (or, when that element was
 * replaced meanwhile, to what replacement(oldElement) names).
 */
export function setupDialog(dialog, onClose, replacement) {
  let opener = null;
  dialog.addEventListener('click', (ev) => {
    if (ev.target === dialog) {
      // the dialog box itself has padding; a click whose point is outside its rect is the backdrop
      const r = dialog.getBoundingClientRect();
      const inside = ev.clientX >= r.left && ev.clientX <= r.right && ev.clientY >= r.top && ev.clientY <= r.bottom;
      if (!inside) dialog.close('dismiss');
    }
    if (ev.target instanceof Element && ev.target.closest('[data-close]')) dialog.close('dismiss');
  });
  trapTab(dialog);
  dialog.addEventListener('close', () => {
    if (onClose) onClose(dialog.returnValue);
    let back = opener;
    opener = null;
    // the opener may have been rebuilt by a refresh while the dialog was open: ask the owner
    // for its replacement rather than leaving focus on <body>
    if (back && !back.isConnected && replacement) back = replacement(back);
    if (back && back.isConnected && typeof back.focus === 'function') back.focus();
  });
  return {
    open(focusTarget) {
      opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      dialog.returnValue = '';
      dialog.showModal();
      const f = focusTarget || dialog.querySelector(FOCUSABLE);
      if (f) f.focus();
    },
    close(v) { if (dialog.open) dialog.close(v); },
  };
}

let confirmCtl = null;
let confirmResolve = null;

/** A modal yes/no question; resolves true on yes. */
export function confirmDialog(title, text, yesLabel) {
  const dlg = $('confirm');
  if (!confirmCtl) {
    confirmCtl = setupDialog(dlg, (v) => {
      const r = confirmResolve;
      confirmResolve = null;
      if (r) r(v === 'yes');
    });
    $('confirm-yes').addEventListener('click', () => dlg.close('yes'));
    $('confirm-no').addEventListener('click', () => dlg.close('no'));
  }
  setText($('confirm-title'), title);
  setText($('confirm-text'), text);
  setText($('confirm-yes'), yesLabel || 'OK');
  return new Promise((resolve) => {
    confirmResolve = resolve;
    confirmCtl.open($('confirm-yes'));
  });
}

/* ---- clipboard ----------------------------------------------------------------- */

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch { /* fall back below */ }
  }
  const ta = el('textarea', { readonly: true, 'aria-hidden': 'true', class: 'visually-hidden' });
  ta.value = text;
  const host = document.querySelector('dialog[open]') || document.body;
  host.appendChild(ta);
  const prev = document.activeElement;
  ta.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  ta.remove();
  if (prev instanceof HTMLElement) prev.focus();
  return ok;
}
