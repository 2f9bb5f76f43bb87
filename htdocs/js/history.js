// History table (GET /records): server-side pagination (limit/offset/total) and filters
// (vm, state, since/until), a client-side text search over the loaded rows (VM, hash, id),
// time ordering, CSV export of the filtered rows and the details modal.

import { el, clear, setText, $ } from './dom.js';
import { api, downloadUrl, isDumpId } from './api.js';
import { bytes, duration, dateTime, parseTime, dumpState, shortHash, localDayStart, localDayEnd, num, isSha256 } from './format.js';
import { toCsv } from './csv.js';
import { notify, setupDialog, copyText } from './ui.js';

const EXPORT_CAP = 10000;   // rows fetched at most for one CSV export
const EXPORT_PAGE = 1000;

const CSV_HEADER = ['time', 'dump_id', 'vm', 'host', 'state', 'format', 'size_bytes', 'duration_s', 'sha256', 'path', 'error', 'requested_by'];
const NEEDS_DOWNLOAD = 'Needs the investigator role';

function str(v) {
  return typeof v === 'string' ? v : '';
}

/** What identifies a control of a history row across re-renders: the dump id and the action. */
export function rowKey(node) {
  const tr = node instanceof Element ? node.closest('tr[data-id]') : null;
  if (!tr || !isDumpId(tr.getAttribute('data-id'))) return null;
  const action = node.getAttribute('data-action') || (node.hasAttribute('download') ? 'download' : null);
  return action ? { id: tr.getAttribute('data-id'), action } : null;
}

/** The control matching rowKey() in the current table, if that row is still shown. */
export function findRowControl(key) {
  if (!key || !isDumpId(key.id) || !/^[a-z]+$/.test(key.action)) return null;
  const tr = $('history-body').querySelector(`tr[data-id="${key.id}"]`);
  if (!tr) return null;
  return key.action === 'download' ? tr.querySelector('a[download]') : tr.querySelector(`[data-action="${key.action}"]`);
}

export class History {
  constructor(onError, onOk) {
    this.onError = onError;
    this.onOk = onOk;
    this.page = 0;
    this.limit = 25;
    this.total = 0;
    this.rows = [];         // records of the loaded page, in display order
    this.desc = true;       // newest first
    this.text = '';
    this.loading = null;
    this.seq = 0;
    this.detailsCtl = setupDialog($('details'), null, (gone) => findRowControl(rowKey(gone)) || $('history').closest('.table-wrap'));
    this.current = null;    // record in the details modal
    this.canDownload = true; // the role includes downloads (auth.js); the server decides per VM

    const reload = () => { this.page = 0; this.load(); };
    let t = null;
    const debounced = () => { clearTimeout(t); t = setTimeout(reload, 300); };
    $('f-vm').addEventListener('input', debounced);
    $('f-vm').addEventListener('change', reload);
    for (const id of ['f-state', 'f-since', 'f-until']) $(id).addEventListener('change', reload);
    $('f-text').addEventListener('input', () => { this.text = $('f-text').value.trim().toLowerCase(); this.render(); });
    $('filters').addEventListener('submit', (ev) => { ev.preventDefault(); reload(); });
    $('filters').addEventListener('reset', () => setTimeout(() => { this.text = ''; reload(); }, 0));
    $('page-size').addEventListener('change', () => { this.limit = Number($('page-size').value) || 25; reload(); });
    $('page-prev').addEventListener('click', () => { if (this.page > 0) { this.page--; this.load(); } });
    $('page-next').addEventListener('click', () => { if ((this.page + 1) * this.limit < this.total) { this.page++; this.load(); } });
    $('sort-time').addEventListener('click', () => {
      this.desc = !this.desc;
      $('th-time').setAttribute('aria-sort', this.desc ? 'descending' : 'ascending');
      setText(document.querySelector('#sort-time .sort-arrow'), this.desc ? '↓' : '↑');
      this.page = 0;
      this.load();
    });
    $('export-csv').addEventListener('click', () => this.exportCsv());
    $('history-body').addEventListener('click', (ev) => this.onTableClick(ev));
    $('details-copy').addEventListener('click', () => { if (this.current) this.copyHash(this.current); });
  }

  /** Server-side filters from the form. */
  filters() {
    const vm = $('f-vm').value.trim();
    const since = localDayStart($('f-since').value);
    const until = localDayEnd($('f-until').value);
    return {
      vm: vm || null,
      state: $('f-state').value || null,
      since: since ? since.toISOString() : null,
      until: until ? until.toISOString() : null,
    };
  }

  async load() {
    const seq = ++this.seq;
    const f = this.filters();
    try {
      let offset = this.page * this.limit;
      let limit = this.limit;
      if (!this.desc) {
        // oldest first: page p is the p-th page from the end of the newest-first order
        if (!this.totalKnownFor(f)) {
          const probe = await api.records({ ...f, limit: 1, offset: 0 });
          if (seq !== this.seq) return;
          this.total = num(probe.total) ?? 0;
          this.totalKey = JSON.stringify(f);
        }
        const end = this.total - this.page * this.limit;
        offset = Math.max(0, end - this.limit);
        limit = Math.max(1, end - offset);
      }
      const data = await api.records({ ...f, limit, offset });
      if (seq !== this.seq) return;
      const recs = Array.isArray(data.records) ? data.records.filter((r) => r && typeof r === 'object') : [];
      this.total = num(data.total) ?? recs.length;
      this.totalKey = JSON.stringify(f);
      recs.sort((a, b) => {
        const ta = parseTime(a.time)?.getTime() ?? 0;
        const tb = parseTime(b.time)?.getTime() ?? 0;
        return this.desc ? tb - ta : ta - tb;
      });
      this.rows = recs;
      if (this.rows.length === 0 && this.page > 0 && this.page * this.limit >= this.total) {
        this.page = Math.max(0, Math.ceil(this.total / this.limit) - 1);
        return this.load();
      }
      this.render();
      this.onOk();
    } catch (e) {
      if (seq !== this.seq) return;
      this.onError(e, 'history');
    }
  }

  /** Offer or withhold the download controls (the role changed). */
  setCanDownload(can) {
    if (this.canDownload === can) return;
    this.canDownload = can;
    this.render();
  }

  totalKnownFor(f) {
    return this.totalKey === JSON.stringify(f);
  }

  matchesText(r) {
    const t = this.text;
    if (!t) return true;
    return [r.vm, r.sha256, r.dump_id].some((v) => typeof v === 'string' && v.toLowerCase().includes(t));
  }

  visibleRows() {
    return this.rows.filter((r) => this.matchesText(r));
  }

  render() {
    const body = $('history-body');
    // the table is rebuilt on every refresh: keep keyboard focus on the same button of the
    // same dump instead of dropping it to <body>
    const focused = body.contains(document.activeElement) ? rowKey(document.activeElement) : null;
    clear(body);
    const rows = this.visibleRows();
    const frag = document.createDocumentFragment();
    rows.forEach((r) => frag.appendChild(this.row(r, this.rows.indexOf(r))));
    body.appendChild(frag);
    if (focused) {
      const again = findRowControl(focused);
      if (again) again.focus({ preventScroll: true });
      else $('history').closest('.table-wrap').focus({ preventScroll: true });
    }
    const empty = $('history-empty');
    empty.hidden = rows.length > 0;
    setText(empty, this.rows.length && this.text ? 'No loaded row matches the search.' : 'No dumps match.');
    const first = this.total ? this.page * this.limit + 1 : 0;
    const last = Math.min(this.total, (this.page + 1) * this.limit);
    let info = this.total ? `${first}–${last} of ${this.total}` : 'No records';
    if (this.text) info += ` · ${rows.length} shown after search`;
    setText($('page-info'), info);
    $('page-prev').disabled = this.page === 0;
    $('page-next').disabled = (this.page + 1) * this.limit >= this.total;
  }

  row(r, index) {
    const st = dumpState(r.state);
    const sha = str(r.sha256);
    const path = str(r.path);
    const actions = el('td', { class: 'actions', 'data-label': 'Actions' },
      el('button', { type: 'button', class: 'btn btn-row', 'data-action': 'details', 'data-index': index, 'aria-label': `Details of dump ${str(r.dump_id) || index}` }, 'Details'));
    if (isSha256(sha)) {
      actions.appendChild(el('button', { type: 'button', class: 'btn btn-row', 'data-action': 'copy', 'data-index': index, 'aria-label': `Copy hash of dump ${str(r.dump_id)}` }, 'Copy hash'));
    }
    const url = st === 'completed' ? downloadUrl(r.dump_id) : null;
    if (url && this.canDownload) {
      actions.appendChild(el('a', { class: 'btn btn-row', href: url, download: '', 'aria-label': `Download dump ${str(r.dump_id)}` }, 'Download'));
    } else if (url) {
      actions.appendChild(el('button', { type: 'button', class: 'btn btn-row', disabled: true, 'data-action': 'download-off', title: NEEDS_DOWNLOAD, 'aria-describedby': 'history-role-note' }, 'Download'));
    }
    const by = str(r.requested_by);
    return el('tr', { 'data-id': isDumpId(r.dump_id) ? r.dump_id : null },
      el('td', { class: 'time', 'data-label': 'Time' }, el('time', { datetime: str(r.time) }, dateTime(r.time))),
      el('td', { class: 'vm', title: str(r.vm), 'data-label': 'VM' }, str(r.vm) || '–'),
      el('td', { class: 'state', 'data-label': 'State' }, el('span', { class: `badge badge-${st}` }, st), r.error ? el('span', { class: 'visually-hidden' }, `: ${str(r.error)}`) : null),
      el('td', { class: 'num', 'data-label': 'Size' }, st === 'completed' || num(r.size_bytes) ? bytes(r.size_bytes) : '–'),
      el('td', { class: 'num', 'data-label': 'Duration' }, duration(r.duration_s)),
      el('td', { class: 'hash', title: sha || null, 'data-label': 'SHA-256' }, sha ? shortHash(sha) : '–'),
      el('td', { class: 'path', title: path || null, 'data-label': 'Path' }, el('span', null, path || '–')),
      el('td', { class: 'by', title: by || null, 'data-label': 'Requested by' }, by || '–'),
      actions);
  }

  onTableClick(ev) {
    const b = ev.target instanceof Element ? ev.target.closest('button[data-action]') : null;
    if (!b) return;
    const r = this.rows[Number(b.dataset.index)];
    if (!r) return;
    if (b.dataset.action === 'details') this.showDetails(r);
    else if (b.dataset.action === 'copy') this.copyHash(r);
  }

  async copyHash(r) {
    const sha = str(r.sha256);
    if (!isSha256(sha)) return;
    const ok = await copyText(sha);
    if (ok) notify(`Copied the SHA-256 of ${str(r.vm) || 'the dump'} (${shortHash(sha)}).`, 'success');
    else notify('Could not copy: the browser refused clipboard access. Select the hash in the details and copy it by hand.', 'error');
  }

  showDetails(r) {
    this.current = r;
    const dl = $('details-list');
    clear(dl);
    const st = dumpState(r.state);
    const rows = [
      ['Dump id', str(r.dump_id), true],
      ['VM', str(r.vm)],
      ['Host', str(r.host)],
      ['State', st],
      ['Format', str(r.format)],
      ['Time', r.time ? `${dateTime(r.time)} (${str(r.time)})` : ''],
      ['Duration', duration(r.duration_s)],
      ['Size', num(r.size_bytes) !== null ? `${bytes(r.size_bytes)} (${r.size_bytes.toLocaleString('en-US')} bytes)` : ''],
      ['SHA-256', str(r.sha256), true],
      ['Path', str(r.path), true],
      ['Error', str(r.error)],
      ['Requested by', str(r.requested_by)],
    ];
    for (const [k, v, mono] of rows) {
      dl.appendChild(el('dt', null, k));
      dl.appendChild(el('dd', { class: mono ? 'mono' : null }, v || '–'));
    }
    // any other field the API adds is shown too
    const known = new Set(['dump_id', 'vm', 'host', 'state', 'format', 'time', 'duration_s', 'size_bytes', 'sha256', 'path', 'error', 'requested_by']);
    for (const [k, v] of Object.entries(r)) {
      if (known.has(k) || v === null || typeof v === 'object') continue;
      dl.appendChild(el('dt', null, k));
      dl.appendChild(el('dd', null, String(v)));
    }
    setText($('details-title'), `Dump of ${str(r.vm) || 'unknown VM'}`);
    $('details-copy').hidden = !isSha256(r.sha256);
    const a = $('details-download');
    const url = st === 'completed' ? downloadUrl(r.dump_id) : null;
    if (url && this.canDownload) { a.setAttribute('href', url); a.hidden = false; } else { a.setAttribute('href', '#'); a.hidden = true; }
    $('details-download-off').hidden = !url || this.canDownload;
    $('details-role-note').hidden = !url || this.canDownload;
    this.detailsCtl.open(document.querySelector('#details [data-close]'));
  }

  async exportCsv() {
    const btn = $('export-csv');
    btn.disabled = true;
    try {
      const f = this.filters();
      let recs;
      if (this.total <= this.rows.length) {
        recs = this.rows.slice();
      } else {
        recs = [];
        for (let offset = 0; offset < Math.min(this.total, EXPORT_CAP); offset += EXPORT_PAGE) {
          const data = await api.records({ ...f, limit: EXPORT_PAGE, offset });
          const part = Array.isArray(data.records) ? data.records : [];
          recs.push(...part);
          if (part.length < EXPORT_PAGE) break;
        }
      }
      recs = recs.filter((r) => r && typeof r === 'object' && this.matchesText(r));
      recs.sort((a, b) => (parseTime(b.time)?.getTime() ?? 0) - (parseTime(a.time)?.getTime() ?? 0));
      const csv = toCsv(CSV_HEADER, recs.map((r) => CSV_HEADER.map((k) => (r[k] === null || r[k] === undefined ? '' : r[k]))));
      const blob = new Blob([csv], { type: 'text/csv;charset=utf-8' });
      const url = URL.createObjectURL(blob);
      const stamp = new Date().toISOString().replace(/[:]/g, '').replace(/\..*$/, 'Z');
      const a = el('a', { href: url, download: `memdump-history-${stamp}.csv`, class: 'visually-hidden' });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      const capped = this.total > EXPORT_CAP ? ` (first ${EXPORT_CAP} of ${this.total})` : '';
      notify(`Exported ${recs.length} ${recs.length === 1 ? 'row' : 'rows'} to CSV${capped}.`, 'success');
    } catch (e) {
      this.onError(e, 'history');
      if (!e.shown) notify(`CSV export failed: ${e.message}`, 'error');
    } finally {
      btn.disabled = false;
    }
  }
}
