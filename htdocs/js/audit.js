// The audit view (admins only): GET /audit with server-side filters (user, action, vm,
// since/until as local days) and paging (limit/offset/total), newest first.

import { el, clear, setText, $ } from './dom.js';
import { api } from './api.js';
import { dateTime, localDayStart, localDayEnd, num } from './format.js';

const PAGE = 50;
const RESULTS = ['ok', 'refused', 'failed'];

function str(v) {
  return typeof v === 'string' ? v : '';
}

function text(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return '';
}

export class AuditView {
  constructor(onError, onOk) {
    this.onError = onError;
    this.onOk = onOk;
    this.page = 0;
    this.total = 0;
    this.seq = 0;
    this.loaded = false;
    const reload = () => { this.page = 0; this.load(); };
    let t = null;
    const debounced = () => { clearTimeout(t); t = setTimeout(reload, 400); };
    for (const id of ['a-user', 'a-vm']) {
      $(id).addEventListener('input', debounced);
      $(id).addEventListener('change', reload);
    }
    for (const id of ['a-action', 'a-since', 'a-until']) $(id).addEventListener('change', reload);
    $('audit-filters').addEventListener('submit', (ev) => { ev.preventDefault(); reload(); });
    $('audit-filters').addEventListener('reset', () => setTimeout(reload, 0));
    $('audit-prev').addEventListener('click', () => { if (this.page > 0) { this.page--; this.load(); } });
    $('audit-next').addEventListener('click', () => { if ((this.page + 1) * PAGE < this.total) { this.page++; this.load(); } });
    $('audit-refresh').addEventListener('click', () => this.load());
  }

  filters() {
    const since = localDayStart($('a-since').value);
    const until = localDayEnd($('a-until').value);
    return {
      user: $('a-user').value.trim() || null,
      action: $('a-action').value || null,
      vm: $('a-vm').value.trim() || null,
      since: since ? since.toISOString() : null,
      until: until ? until.toISOString() : null,
    };
  }

  async load() {
    const seq = ++this.seq;
    try {
      const data = await api.audit({ ...this.filters(), limit: PAGE, offset: this.page * PAGE });
      if (seq !== this.seq) return;
      const events = Array.isArray(data.events) ? data.events.filter((e) => e && typeof e === 'object') : [];
      this.total = num(data.total) ?? events.length;
      if (!events.length && this.page > 0 && this.page * PAGE >= this.total) {
        this.page = Math.max(0, Math.ceil(this.total / PAGE) - 1);
        return this.load();
      }
      this.render(events);
      this.loaded = true;
      this.onOk();
    } catch (e) {
      if (seq !== this.seq) return;
      this.onError(e, 'audit');
    }
  }

  render(events) {
    const body = $('audit-body');
    clear(body);
    const frag = document.createDocumentFragment();
    for (const e of events) frag.appendChild(this.row(e));
    body.appendChild(frag);
    $('audit-empty').hidden = events.length > 0;
    const first = this.total ? this.page * PAGE + 1 : 0;
    const last = Math.min(this.total, this.page * PAGE + events.length);
    setText($('audit-page-info'), this.total ? `${first}–${last} of ${this.total}` : 'No events');
    $('audit-prev').disabled = this.page === 0;
    $('audit-next').disabled = (this.page + 1) * PAGE >= this.total;
  }

  row(e) {
    const result = RESULTS.includes(e.result) ? e.result : 'unknown';
    const who = [str(e.auth), str(e.role)].filter(Boolean).join(', ');
    const chain = str(e.chain) && num(e.seq) !== null ? `chain ${e.chain} #${e.seq}` : '';
    const detail = str(e.detail);
    return el('tr', { 'data-action': str(e.action) || null },
      el('td', { class: 'time', 'data-label': 'Time', title: chain || null }, el('time', { datetime: str(e.at) }, dateTime(e.at))),
      el('td', { class: 'audit-action', 'data-label': 'Action' }, str(e.action) || '–'),
      el('td', { 'data-label': 'Result' }, el('span', { class: `badge badge-result-${result}` }, result)),
      el('td', { class: 'vm', 'data-label': 'User', title: str(e.user) || null }, str(e.user) || '–',
        who ? el('span', { class: 'muted small audit-who' }, ` (${who})`) : null),
      el('td', { 'data-label': 'Client' }, str(e.client) || '–'),
      el('td', { class: 'vm', 'data-label': 'VM', title: str(e.vm) || null }, str(e.vm) || '–'),
      el('td', { class: 'hash', 'data-label': 'Dump', title: str(e.dump_id) || null }, str(e.dump_id) || '–'),
      el('td', { class: 'num', 'data-label': 'Status' }, text(e.status) || '–'),
      el('td', { class: 'audit-detail', 'data-label': 'Detail', title: str(e.request_id) ? `request ${e.request_id}` : null }, detail || '–'));
  }
}
