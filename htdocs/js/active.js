// Live progress of queued and running dumps (from /status "active"), with cancel buttons.
// Items are keyed by dump id and updated in place so focus and screen readers are not
// disturbed on every poll.

import { el, clear, setText, $ } from './dom.js';
import { bytes, rate, duration, dumpState, num, ago, plural } from './format.js';
import { isDumpId } from './api.js';

function str(v) { return typeof v === 'string' ? v : ''; }

export class ActiveList {
  constructor(onCancel) {
    this.onCancel = onCancel;
    this.items = new Map(); // dump id -> {li, parts}
    this.canCancel = true;  // the role includes cancelling (auth.js)
    $('active-list').addEventListener('click', (ev) => {
      const b = ev.target instanceof Element ? ev.target.closest('button[data-cancel]') : null;
      if (b && isDumpId(b.dataset.cancel)) this.onCancel(b.dataset.cancel, b);
    });
  }

  update(dumps) {
    const list = $('active-list');
    const seen = new Set();
    const valid = (Array.isArray(dumps) ? dumps : []).filter((d) => d && isDumpId(d.dump_id));
    valid.sort((a, b) => str(a.created_at).localeCompare(str(b.created_at)));
    for (const d of valid) {
      seen.add(d.dump_id);
      let it = this.items.get(d.dump_id);
      if (!it) {
        it = this.create(d);
        this.items.set(d.dump_id, it);
        list.appendChild(it.li);
      }
      this.fill(it, d);
    }
    for (const [id, it] of this.items) {
      if (!seen.has(id)) { it.li.remove(); this.items.delete(id); }
    }
    $('active-empty').hidden = valid.length > 0;
    setText($('active-count'), valid.length ? plural(valid.length, 'dump') : 'none');
    return valid;
  }

  create(d) {
    const name = el('span', { class: 'vm-name' });
    const badge = el('span', { class: 'badge' });
    const bar = el('div', { class: 'progress-bar' });
    const prog = el('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100' }, bar);
    const pct = el('b');
    const amount = el('span');
    const speed = el('span');
    const eta = el('span');
    const host = el('span');
    const by = el('span');
    const cancel = el('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-cancel': d.dump_id }, 'Cancel');
    const li = el('li', { class: 'active-item', 'data-id': d.dump_id },
      el('div', { class: 'active-title' }, name, badge),
      cancel,
      prog,
      el('div', { class: 'active-meta' }, pct, amount, speed, eta, host, by));
    const it = { li, name, badge, bar, prog, pct, amount, speed, eta, host, by, cancel };
    this.gate(it);
    return it;
  }

  /** Enable or disable the Cancel buttons for the role. */
  setCanCancel(can) {
    if (this.canCancel === can) return;
    this.canCancel = can;
    for (const it of this.items.values()) this.gate(it);
  }

  gate(it) {
    const b = it.cancel;
    if (this.canCancel) {
      b.disabled = false;
      b.removeAttribute('title');
      b.removeAttribute('aria-describedby');
    } else {
      b.disabled = true;
      b.setAttribute('title', 'Needs the operator role');
      b.setAttribute('aria-describedby', 'active-role-note');
    }
  }

  fill(it, d) {
    const st = dumpState(d.state);
    const vm = str(d.vm) || 'unknown VM';
    setText(it.name, vm);
    it.name.setAttribute('title', vm);
    setText(it.badge, st);
    it.badge.className = `badge badge-${st}`;
    const p = Math.max(0, Math.min(100, num(d.progress) ?? 0));
    const queued = st === 'queued';
    it.prog.classList.toggle('progress-queued', queued);
    it.prog.setAttribute('aria-label', `Dump of ${vm}`);
    if (queued) {
      it.prog.removeAttribute('aria-valuenow');
      it.prog.setAttribute('aria-valuetext', 'queued');
      it.bar.style.width = '';
    } else {
      it.prog.setAttribute('aria-valuenow', String(Math.round(p)));
      it.prog.setAttribute('aria-valuetext', `${Math.round(p)} percent`);
      it.bar.style.width = `${p}%`;
    }
    setText(it.pct, queued ? 'queued' : `${Math.round(p)} %`);
    const w = num(d.bytes_written);
    const t = num(d.bytes_total);
    setText(it.amount, w !== null ? `${bytes(w)}${t !== null ? ` of ${bytes(t)}` : ''}` : (t !== null ? `${bytes(t)} to write` : ''));
    setText(it.speed, num(d.rate_bps) !== null ? rate(d.rate_bps) : '');
    setText(it.eta, num(d.eta_s) !== null ? `ETA ${duration(d.eta_s)}` : (queued ? `waiting since ${ago(d.created_at) || '–'}` : ''));
    setText(it.host, str(d.host) ? `on ${d.host}` : '');
    setText(it.by, str(d.requested_by) ? `by ${d.requested_by}` : '');
    it.cancel.setAttribute('aria-label', `Cancel the dump of ${vm}`);
  }

  ids() {
    return [...this.items.keys()];
  }

  clearAll() {
    clear($('active-list'));
    this.items.clear();
  }
}
