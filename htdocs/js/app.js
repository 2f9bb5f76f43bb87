// memdump dashboard: wires the page together. Data flow:
//   /vms     -> VM selector, VM card            /status -> services card, banner, active dumps
//   /stats   -> cards, chart                    /records -> history table (history.js)
//   /session -> who is here and what the role allows (auth.js)    /audit -> audit view (admins)
// While dumps are active /status is polled every ACTIVE_POLL_MS; with auto-refresh on,
// everything is reloaded every AUTO_REFRESH_MS. Both pause while the tab is hidden.

import { $, setText, el, clear, isTyping } from './dom.js';
import { api, ApiError } from './api.js';
import { bytes, duration, dateTime, ago, plural, clock, dumpState, num } from './format.js';
import { notify, logEvent, setProblem, clearSource, renderBanner, confirmDialog, toast } from './ui.js';
import { VmPicker } from './vmpicker.js';
import { ActiveList } from './active.js';
import { History } from './history.js';
import { renderChart } from './charts.js';
import { initAuth, hasRole, roleName, setServerAuth, needsText } from './auth.js';
import { AuditView } from './audit.js';

const ACTIVE_POLL_MS = 1500;
const AUTO_REFRESH_MS = 5000;
const BACKOFF_MAX_MS = 30000; // polling after repeated errors: 1.5, 3, 6, ... s, at most this
const TRIGGER_BATCH = 64; // VMs per POST /trigger (TRIGGER_VMS_MAX in fcgi/trigger.h)
const AUTO_KEY = 'memdump.autoRefresh';

function str(v) { return typeof v === 'string' ? v : ''; }

const state = {
  activeIds: new Map(), // dump id -> vm, as last seen in /status
  statusTimer: null,
  autoTimer: null,
  lastUpdate: null,
  busy: false,
  statusCall: null,   // the /status load in flight: callers share it, never a second request
  statusErrors: 0,    // /status failures in a row (backoff)
  refreshCall: null,  // the full refresh in flight
  refreshErrors: 0,   // full refreshes in a row where every call failed (backoff)
};

/** Delay after `errors` failures in a row: base, then doubling up to BACKOFF_MAX_MS. */
function backoff(base, errors) {
  return Math.min(BACKOFF_MAX_MS, base * 2 ** Math.min(errors, 5));
}

/* ---- errors -> banner ------------------------------------------------------------ */

const KIND_MESSAGES = {
  redis_unavailable: ['redis', 'Redis is unavailable: live status, the VM list and new dumps do not work until it is back.'],
  influx_unavailable: ['influx', 'InfluxDB is unavailable: history and statistics cannot be loaded until it is back.'],
  api_unreachable: ['api', 'The memdump API (memdump-api behind nginx) is not answering.'],
};

/** Report a failed call of `source` in the banner; returns the human message. */
function reportError(e, source) {
  const err = e instanceof ApiError ? e : new ApiError(0, 'client_error', String(e && e.message ? e.message : e));
  clearSource(source);
  if (KIND_MESSAGES[err.code]) {
    const [kind, msg] = KIND_MESSAGES[err.code];
    setProblem(source, kind, err.message && err.code !== 'api_unreachable' ? `${msg} (${err.message})` : msg);
  } else if (err.code === 'service_unavailable' || err.code === 'bad_gateway') {
    setProblem(source, 'memdumpd', `memdumpd is unavailable: ${err.message}`);
  } else if (err.status >= 500) {
    setProblem(source, `http:${source}`, `Loading ${source} failed: ${err.message}`);
  }
  renderBanner();
  return err.message;
}

function sourceOk(source) {
  clearSource(source);
  renderBanner();
}

/* ---- cards -------------------------------------------------------------------------- */

function renderServices(services, poller) {
  const list = $('services-list');
  clear(list);
  clearSource('health');
  const svcs = Array.isArray(services) ? services.filter((s) => s && typeof s === 'object') : [];
  if (!svcs.length) list.appendChild(el('li', { class: 'muted' }, 'No memdumpd reported yet'));
  for (const s of svcs) {
    const url = str(s.service);
    const name = str(s.host) || url || 'memdumpd';
    let cls = 'dot-ok';
    let detail = 'ok';
    if (s.reachable === false) {
      cls = 'dot-bad';
      detail = 'unreachable';
      setProblem('health', `svc:${url}`, `memdumpd ${name}${url && url !== name ? ` (${url})` : ''} is unreachable${str(s.last_error) ? `: ${s.last_error}` : ''}.`);
    } else {
      const lv = s.libvirt && typeof s.libvirt === 'object' ? s.libvirt : null;
      const ix = s.influx && typeof s.influx === 'object' ? s.influx : null;
      if (lv && lv.ok === false) {
        cls = 'dot-bad';
        detail = 'libvirt down';
        setProblem('health', `libvirt:${url}`, `libvirt on ${name} is down${str(lv.error) ? `: ${lv.error}` : ''}: no dump can be taken there.`);
      } else if (ix && ix.ok === false) {
        cls = 'dot-warn';
        detail = 'InfluxDB down';
        const sp = num(ix.spooled);
        setProblem('health', 'influx', `InfluxDB cannot be reached from memdumpd ${name}${sp ? ` (${plural(sp, 'record')} spooled, written when it is back)` : ''}.`);
      } else {
        const q = s.queue && typeof s.queue === 'object' ? s.queue : {};
        const running = num(q.running) ?? 0;
        const queued = num(q.queued) ?? 0;
        detail = running || queued ? `${running} running${queued ? `, ${queued} queued` : ''}` : 'ok';
        if (num(s.latency_ms) !== null) detail += ` · ${Math.round(s.latency_ms)} ms`;
      }
    }
    list.appendChild(el('li', { title: url || null },
      el('span', { class: `dot ${cls}`, 'aria-hidden': 'true' }),
      el('span', { class: 'svc-name' }, name),
      el('span', { class: 'svc-detail' }, detail)));
  }
  if (poller === null) {
    setProblem('health', 'poller', 'memdump-poller is not running: live progress and the VM list may be stale.');
  }
}

function renderStats(s) {
  setText($('card-dumps'), num(s.total) !== null ? s.total.toLocaleString('en-US') : '–');
  const parts = [];
  if (num(s.completed) !== null) parts.push(`${s.completed} ok`);
  if (num(s.failed) !== null) parts.push(`${s.failed} failed`);
  if (num(s.cancelled)) parts.push(`${s.cancelled} cancelled`);
  setText($('card-dumps-sub'), parts.join(' · ') || ' ');
  const last = s.last_dump && typeof s.last_dump === 'object' ? s.last_dump : null;
  if (last) {
    setText($('card-last'), str(last.vm) || '–');
    $('card-last').setAttribute('title', str(last.vm));
    setText($('card-last-sub'), `${dumpState(last.state)} · ${ago(last.time) || dateTime(last.time)}`);
    $('card-last-sub').setAttribute('title', dateTime(last.time));
  } else {
    setText($('card-last'), 'never');
    setText($('card-last-sub'), ' ');
  }
  setText($('card-storage'), bytes(s.bytes_total));
  const d = [];
  if (num(s.duration_mean_s) !== null) d.push(`mean ${duration(s.duration_mean_s)}`);
  if (num(s.duration_p95_s) !== null) d.push(`p95 ${duration(s.duration_p95_s)}`);
  setText($('card-storage-sub'), d.length ? d.join(' · ') : ' ');
  $('card-storage-sub').setAttribute('title', d.length ? `dump duration: ${d.join(', ')}` : '');
  const rate = num(s.success_rate);
  $('card-dumps-sub').setAttribute('title', rate !== null ? `success rate ${Math.round(rate * 100)} % (cancels are not failures)` : '');
  renderChart(s.per_day);
}

/* ---- loaders -------------------------------------------------------------------------- */

const picker = new VmPicker(updateButtons);
const active = new ActiveList(cancelDump);
let lastHistoryError = '';
const history = new History((e, source) => {
  const msg = reportError(e, source);
  // a refused filter (400) is the user's to fix: say so once, not on every refresh
  // (401 and 403 were reported by the login dialog or api.js already)
  if (e instanceof ApiError && !e.shown && e.status >= 400 && e.status < 500 && msg !== lastHistoryError) {
    notify(`History: ${msg}`, 'error');
  }
  lastHistoryError = msg;
}, () => { lastHistoryError = ''; sourceOk('history'); });
let lastAuditError = '';
const audit = new AuditView((e, source) => {
  const msg = reportError(e, source);
  if (e instanceof ApiError && !e.shown && e.status >= 400 && e.status < 500 && msg !== lastAuditError) {
    notify(`Audit: ${msg}`, 'error');
  }
  lastAuditError = msg;
}, () => { lastAuditError = ''; sourceOk('audit'); });

async function loadVms() {
  try {
    const data = await api.vms();
    const vms = Array.isArray(data.vms) ? data.vms : [];
    picker.setVms(vms);
    const running = vms.filter((v) => v && v.state === 'running').length;
    setText($('card-vms'), String(num(data.count) ?? vms.length));
    setText($('card-vms-sub'), `${running} running`);
    const dl = $('vm-names');
    clear(dl);
    for (const n of picker.names().slice(0, 500)) dl.appendChild(el('option', { value: n }));
    clearSource('vms');
    const down = Array.isArray(data.services_down) ? data.services_down.filter((u) => typeof u === 'string') : [];
    for (const u of down) setProblem('vms', `svc:${u}`, `memdumpd ${u} is down: its VMs are not listed.`);
    renderBanner();
  } catch (e) {
    reportError(e, 'vms');
  }
}

async function loadStats() {
  try {
    renderStats(await api.stats());
    sourceOk('stats');
  } catch (e) {
    reportError(e, 'stats');
  }
}

/** Load /status; while one load is in flight every caller gets that same one. */
function loadStatus() {
  if (!state.statusCall) {
    state.statusCall = loadStatusNow().finally(() => { state.statusCall = null; });
  }
  return state.statusCall;
}

/** A /status answer asked for after now (after a trigger or cancel): waits out one in flight. */
async function loadStatusFresh() {
  if (state.statusCall) await state.statusCall;
  return loadStatus();
}

async function loadStatusNow() {
  try {
    const data = await api.status();
    state.statusErrors = 0;
    clearSource('status');
    setServerAuth(data.auth);
    renderServices(data.services, data.poller === undefined ? undefined : data.poller);
    renderBanner();
    const dumps = active.update(data.active);
    const now = new Map(dumps.map((d) => [d.dump_id, str(d.vm)]));
    const finished = [...state.activeIds].filter(([id]) => !now.has(id));
    state.activeIds = now;
    if (finished.length) onFinished(finished);
    markUpdated();
    return dumps.length;
  } catch (e) {
    state.statusErrors++;
    reportError(e, 'status');
    return state.activeIds.size;
  }
}

/** Dumps that left the active list: report how each ended, reload history and stats. */
async function onFinished(finished) {
  history.load();
  loadStats();
  loadVms();
  for (const [id, vm] of finished.slice(0, 10)) {
    try {
      const data = await fetchVmStatus(vm);
      const d = data && data.dump && data.dump.dump_id === id ? data.dump : null;
      if (!d) { logEvent(`Dump of ${vm} finished.`); continue; }
      const st = dumpState(d.state);
      if (st === 'completed') notify(`Dump of ${vm} completed: ${bytes(d.size_bytes)} in ${duration(d.duration_s)}.`, 'success');
      else if (st === 'failed') notify(`Dump of ${vm} failed${str(d.error) ? `: ${d.error}` : '.'}`, 'error');
      else if (st === 'cancelled') notify(`Dump of ${vm} was cancelled.`, 'warning');
      else logEvent(`Dump of ${vm}: ${st}.`);
    } catch {
      logEvent(`Dump of ${vm} finished.`);
    }
  }
}

async function fetchVmStatus(vm) {
  try {
    return await api.vmStatus(vm);
  } catch {
    return null;
  }
}

function markUpdated() {
  state.lastUpdate = new Date();
  const paused = !$('auto-refresh').checked ? ' · auto-refresh off' : '';
  setText($('last-updated'), `Updated ${clock(state.lastUpdate)}${paused}`);
}

/** Reload everything; a refresh asked for while one runs joins it. */
function refreshAll() {
  if (!state.refreshCall) {
    state.refreshCall = refreshAllNow().finally(() => { state.refreshCall = null; });
  }
  return state.refreshCall;
}

async function refreshAllNow() {
  const errorsBefore = state.statusErrors;
  await Promise.allSettled([loadVms(), loadStatus(), loadStats(), history.load()]);
  // the loaders catch their own errors; an API that is down shows as /status failing
  state.refreshErrors = state.statusErrors > errorsBefore ? state.refreshErrors + 1 : 0;
  markUpdated();
  scheduleStatus();
}

/* ---- scheduling -------------------------------------------------------------------------- */

function scheduleStatus() {
  clearTimeout(state.statusTimer);
  state.statusTimer = null;
  if (document.hidden || !state.activeIds.size) return;
  state.statusTimer = setTimeout(async () => {
    state.statusTimer = null;
    await loadStatus();
    scheduleStatus();
  }, backoff(ACTIVE_POLL_MS, state.statusErrors));
}

function scheduleAuto() {
  clearTimeout(state.autoTimer);
  state.autoTimer = null;
  if (document.hidden || !$('auto-refresh').checked) return;
  state.autoTimer = setTimeout(async () => {
    state.autoTimer = null;
    await refreshAll();
    scheduleAuto();
  }, backoff(AUTO_REFRESH_MS, state.refreshErrors));
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    clearTimeout(state.statusTimer);
    clearTimeout(state.autoTimer);
    state.statusTimer = state.autoTimer = null;
    setText($('last-updated'), 'Paused while the tab is hidden');
  } else {
    refreshAll().then(scheduleAuto);
  }
});

$('auto-refresh').addEventListener('change', () => {
  const on = $('auto-refresh').checked;
  try { localStorage.setItem(AUTO_KEY, on ? '1' : '0'); } catch { /* storage off */ }
  logEvent(on ? 'Auto-refresh on (every 5 s).' : 'Auto-refresh off.');
  toast(on ? 'Auto-refresh on' : 'Auto-refresh off');
  markUpdated();
  scheduleAuto();
});

$('refresh-now').addEventListener('click', async () => {
  if (!$('view-audit').hidden) audit.load();
  await refreshAll();
  toast('Refreshed');
});

/* ---- actions ----------------------------------------------------------------------------- */

function updateButtons() {
  const n = picker.selected.size;
  const may = hasRole('operator');
  const sel = $('dump-selected');
  sel.disabled = !may || state.busy || n === 0;
  setText(sel, n > 1 ? `Dump selected (${n})` : 'Dump selected');
  const all = picker.dumpable().names.length;
  const allBtn = $('dump-all');
  allBtn.disabled = !may || state.busy || all === 0;
  setText(allBtn, all ? `Dump all (${all})` : 'Dump all');
  for (const b of [sel, allBtn]) {
    if (may) { b.removeAttribute('title'); b.removeAttribute('aria-describedby'); }
    else { b.setAttribute('title', needsText('operator')); b.setAttribute('aria-describedby', 'capture-role-note'); }
  }
}

/* ---- roles and views ----------------------------------------------------------------------- */

const article = (w) => (/^[aeiou]/.test(w) ? 'an' : 'a');

function roleNote(id, role, what) {
  const note = $(id);
  const may = hasRole(role);
  note.hidden = may;
  if (!may) setText(note, `${what} needs the ${role} role; you are ${article(roleName())} ${roleName()}.`);
}

/** A new identity (first answer of /session, or a login): show what the role allows. */
function onSession() {
  roleNote('capture-role-note', 'operator', 'Starting dumps');
  roleNote('active-role-note', 'operator', 'Cancelling dumps');
  roleNote('history-role-note', 'investigator', 'Downloading dumps');
  setText($('details-role-note'), `Downloading dumps needs the investigator role; you are ${article(roleName())} ${roleName()}.`);
  active.setCanCancel(hasRole('operator'));
  history.setCanDownload(hasRole('investigator'));
  updateButtons();
  const admin = hasRole('admin');
  $('views').hidden = !admin;
  const dash = $('view-dashboard');
  if (admin) { dash.setAttribute('role', 'tabpanel'); dash.setAttribute('aria-labelledby', 'tab-dashboard'); }
  else { dash.removeAttribute('role'); dash.removeAttribute('aria-labelledby'); }
  $('view-audit').setAttribute('aria-labelledby', admin ? 'tab-audit' : 'audit-title');
  if (admin) $('view-audit').setAttribute('role', 'tabpanel'); else $('view-audit').removeAttribute('role');
  if (!admin) showView('dashboard');
}

function showView(name, focus) {
  const toAudit = name === 'audit' && hasRole('admin');
  const tabs = [[$('tab-dashboard'), !toAudit], [$('tab-audit'), toAudit]];
  for (const [t, on] of tabs) {
    t.setAttribute('aria-selected', on ? 'true' : 'false');
    t.tabIndex = on ? 0 : -1;
  }
  const wasAudit = !$('view-audit').hidden;
  $('view-dashboard').hidden = toAudit;
  $('view-audit').hidden = !toAudit;
  if (toAudit && !wasAudit) audit.load();
  if (focus) (toAudit ? $('tab-audit') : $('tab-dashboard')).focus();
}

$('tab-dashboard').addEventListener('click', () => showView('dashboard'));
$('tab-audit').addEventListener('click', () => showView('audit'));
$('views').addEventListener('keydown', (ev) => {
  if (!['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(ev.key)) return;
  ev.preventDefault();
  const toAudit = ev.key === 'End' || (ev.key !== 'Home' && $('view-audit').hidden);
  showView(toAudit ? 'audit' : 'dashboard', true);
});

async function trigger(names) {
  state.busy = true;
  updateButtons();
  const format = $('dump-format').value || undefined;
  let accepted = 0;
  let refused = 0;
  try {
    for (let i = 0; i < names.length; i += TRIGGER_BATCH) {
      const batch = names.slice(i, i + TRIGGER_BATCH);
      let data;
      try {
        data = await api.trigger(batch, format === 'elf' ? undefined : format);
      } catch (e) {
        const msg = reportError(e, 'trigger');
        if (!e.shown) notify(`Dump request failed: ${msg}`, 'error');
        else logEvent(`Dump request failed: ${msg}`, 'error');
        return;
      }
      clearSource('trigger');
      renderBanner();
      const results = Array.isArray(data.results) ? data.results : [];
      const few = results.length <= 5;
      for (const r of results) {
        if (!r || typeof r !== 'object') continue;
        const vm = str(r.vm);
        if (r.status === 'accepted') {
          accepted++;
          if (typeof r.dump_id === 'string') state.activeIds.set(r.dump_id, vm);
          if (few) notify(`Dump of ${vm} ${dumpState(r.state) === 'running' ? 'started' : 'queued'}.`, 'success');
        } else {
          refused++;
          const why = r.error && typeof r.error === 'object' && typeof r.error.message === 'string' ? r.error.message : 'refused';
          if (few) notify(`Dump of ${vm} refused: ${why}`, 'error');
          else logEvent(`Dump of ${vm} refused: ${why}`, 'error');
        }
      }
    }
    if (names.length > 5) {
      notify(`${plural(accepted, 'dump')} queued${refused ? `, ${refused} refused (see the activity log)` : ''}.`, refused ? 'warning' : 'success');
    }
  } finally {
    state.busy = false;
    updateButtons();
    await loadStatusFresh();
    scheduleStatus();
  }
}

$('dump-selected').addEventListener('click', async () => {
  const names = picker.selectedNames();
  if (!names.length) { toast('Select at least one VM first.', 'warning'); return; }
  await trigger(names);
});

$('dump-all').addEventListener('click', async () => {
  const { names, skipped } = picker.dumpable();
  if (!names.length) { toast('No running VM to dump.', 'warning'); return; }
  const skip = skipped ? ` ${plural(skipped, 'VM')} that ${skipped === 1 ? 'is' : 'are'} not running will be skipped.` : '';
  const ok = await confirmDialog(`Dump all ${plural(names.length, 'VM')}?`,
    `This captures the memory of ${plural(names.length, 'VM')}. Each guest is paused while its memory is written, and every dump holds all of that guest's secrets.${skip}`,
    `Dump ${plural(names.length, 'VM')}`);
  if (!ok) { logEvent('Dump all: cancelled by the user.'); return; }
  await trigger(names);
});

async function cancelDump(id, button) {
  const vm = state.activeIds.get(id) || 'the VM';
  button.disabled = true;
  try {
    const data = await api.cancel(id);
    const d = data && data.dump && typeof data.dump === 'object' ? data.dump : null;
    const st = d && d.state ? dumpState(d.state) : 'cancelled';
    if (st === 'queued' || st === 'running') notify(`Cancelling the dump of ${vm}: it is still stopping.`, 'warning');
    else notify(`Dump of ${vm} cancelled${st !== 'cancelled' ? ` (now ${st})` : ''}.`, 'warning');
  } catch (e) {
    const msg = e instanceof ApiError && (e.status === 409 || e.code === 'conflict')
      ? `it already finished (${e.message})` : reportError(e, 'cancel');
    if (!(e instanceof ApiError && e.shown)) notify(`Could not cancel the dump of ${vm}: ${msg}`, 'error');
    else logEvent(`Could not cancel the dump of ${vm}: ${msg}`, 'error');
    button.disabled = !hasRole('operator');
  }
  await loadStatusFresh();
  scheduleStatus();
}

/* ---- keyboard shortcuts ------------------------------------------------------------------ */

document.addEventListener('keydown', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || isTyping(ev) || document.querySelector('dialog[open]')) return;
  if (ev.key === '/') { ev.preventDefault(); showView('dashboard'); $('vm-search').focus(); }
  else if (ev.key === 'f') { ev.preventDefault(); showView('dashboard'); $('f-text').focus(); }
  else if (ev.key === 'r') { ev.preventDefault(); $('refresh-now').click(); }
});

/* ---- start -------------------------------------------------------------------------------- */

try {
  const saved = localStorage.getItem(AUTO_KEY);
  if (saved !== null) $('auto-refresh').checked = saved === '1';
} catch { /* storage off */ }
updateButtons();
logEvent('Dashboard opened.');
// nothing is loaded before someone is logged in; after a login that ended a wait, the calls
// that were waiting go on by themselves and one refresh catches up with the rest
initAuth({ changed: onSession, resumed: () => refreshAll().then(scheduleAuto) })
  .then((s) => {
    if (s) logEvent(`Logged in as ${s.user} (${s.role}).`);
    return refreshAll();
  })
  .then(scheduleAuto);
