// The VM selector: a searchable multi-select listbox. With thousands of VMs only the first
// RENDER_CAP matches are put in the DOM (the rest are counted and reachable by searching),
// so filtering stays instant. Keyboard: arrows/Home/End move, Space toggles, Ctrl+A selects
// every shown VM, typing in the search box filters.

import { el, clear, setText, $ } from './dom.js';
import { bytes, vmState, plural } from './format.js';

const RENDER_CAP = 200;
const DUMPABLE = new Set(['running', 'blocked', 'paused', 'pmsuspended']);

export class VmPicker {
  constructor(onChange) {
    this.vms = [];           // VM objects from /vms, sorted by name
    this.byName = new Map();
    this.selected = new Set();
    this.filter = '';
    this.shown = [];         // VM objects currently rendered
    this.focusIndex = 0;
    this.onChange = onChange;
    this.list = $('vm-list');
    this.search = $('vm-search');
    this.search.addEventListener('input', () => { this.filter = this.search.value.trim().toLowerCase(); this.focusIndex = 0; this.render(); });
    this.search.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowDown' && this.shown.length) { ev.preventDefault(); this.focusAt(0); }
      if (ev.key === 'Enter') { ev.preventDefault(); if (this.shown.length) this.focusAt(0); }
    });
    this.list.addEventListener('click', (ev) => {
      const li = ev.target instanceof Element ? ev.target.closest('[role=option]') : null;
      if (!li) return;
      const i = Number(li.dataset.index);
      this.toggle(i);
      this.focusAt(i);
    });
    this.list.addEventListener('keydown', (ev) => this.onKey(ev));
    $('vm-select-shown').addEventListener('click', () => this.selectShown());
    $('vm-clear').addEventListener('click', () => { this.selected.clear(); this.render(); this.changed(); });
  }

  setVms(vms) {
    const list = Array.isArray(vms) ? vms.filter((v) => v && typeof v.name === 'string' && v.name) : [];
    list.sort((a, b) => a.name.localeCompare(b.name));
    this.vms = list;
    this.byName = new Map(list.map((v) => [v.name, v]));
    for (const n of [...this.selected]) if (!this.byName.has(n)) this.selected.delete(n);
    this.render();
    this.changed();
  }

  matches() {
    const f = this.filter;
    if (!f) return this.vms;
    return this.vms.filter((v) => v.name.toLowerCase().includes(f)
      || (typeof v.host === 'string' && v.host.toLowerCase().includes(f))
      || (typeof v.state === 'string' && v.state === f));
  }

  render() {
    const hadFocus = this.list.contains(document.activeElement);
    const all = this.matches();
    this.shown = all.slice(0, RENDER_CAP);
    clear(this.list);
    const frag = document.createDocumentFragment();
    this.shown.forEach((vm, i) => {
      const st = vmState(vm.state);
      const sel = this.selected.has(vm.name);
      frag.appendChild(el('li', {
        role: 'option', id: `vm-opt-${i}`, 'data-index': i, 'aria-selected': sel ? 'true' : 'false',
        tabindex: i === this.focusIndex ? '0' : '-1', class: `vm-option${DUMPABLE.has(st) ? '' : ' vm-off'}`,
        title: vm.name,
      },
      el('span', { class: 'vm-check', 'aria-hidden': 'true' }),
      el('span', { class: 'vm-name' }, vm.name, typeof vm.host === 'string' && vm.host ? el('span', { class: 'vm-host' }, ` · ${vm.host}`) : null),
      el('span', { class: `badge badge-${st === 'running' ? 'running-vm' : st}` }, st),
      el('span', { class: 'vm-mem' }, bytes(vm.memory_bytes))));
    });
    this.list.appendChild(frag);
    if (this.focusIndex >= this.shown.length) this.focusIndex = Math.max(0, this.shown.length - 1);
    const more = $('vm-more');
    if (all.length > this.shown.length) {
      more.hidden = false;
      setText(more, `Showing ${this.shown.length} of ${all.length} matching VMs: type to narrow the list.`);
    } else if (!all.length) {
      more.hidden = false;
      setText(more, this.vms.length ? 'No VM matches the filter.' : 'No VM known yet.');
    } else {
      more.hidden = true;
    }
    setText($('vm-count-label'), this.vms.length ? plural(this.vms.length, 'VM') : '');
    if (hadFocus && this.shown.length) this.focusAt(this.focusIndex);
  }

  focusAt(i) {
    if (!this.shown.length) return;
    const idx = Math.max(0, Math.min(i, this.shown.length - 1));
    const prev = this.list.querySelector('[tabindex="0"]');
    if (prev) prev.setAttribute('tabindex', '-1');
    const li = document.getElementById(`vm-opt-${idx}`);
    if (!li) return;
    li.setAttribute('tabindex', '0');
    this.focusIndex = idx;
    li.focus();
  }

  toggle(i) {
    const vm = this.shown[i];
    if (!vm) return;
    if (this.selected.has(vm.name)) this.selected.delete(vm.name);
    else this.selected.add(vm.name);
    const li = document.getElementById(`vm-opt-${i}`);
    if (li) li.setAttribute('aria-selected', this.selected.has(vm.name) ? 'true' : 'false');
    this.changed();
  }

  selectShown() {
    for (const v of this.shown) this.selected.add(v.name);
    this.render();
    this.changed();
  }

  onKey(ev) {
    const i = this.focusIndex;
    switch (ev.key) {
      case 'ArrowDown': ev.preventDefault(); this.focusAt(i + 1); break;
      case 'ArrowUp':
        ev.preventDefault();
        if (i === 0) this.search.focus(); else this.focusAt(i - 1);
        break;
      case 'Home': ev.preventDefault(); this.focusAt(0); break;
      case 'End': ev.preventDefault(); this.focusAt(this.shown.length - 1); break;
      case 'PageDown': ev.preventDefault(); this.focusAt(i + 10); break;
      case 'PageUp': ev.preventDefault(); this.focusAt(i - 10); break;
      case ' ':
      case 'Enter': ev.preventDefault(); this.toggle(i); break;
      case 'a':
      case 'A':
        if (ev.ctrlKey || ev.metaKey) { ev.preventDefault(); this.selectShown(); this.focusAt(i); }
        break;
      default: break;
    }
  }

  changed() {
    const n = this.selected.size;
    setText($('vm-selected-label'), n ? `${plural(n, 'VM')} selected` : 'No VM selected');
    if (this.onChange) this.onChange();
  }

  selectedNames() {
    return this.vms.filter((v) => this.selected.has(v.name)).map((v) => v.name);
  }

  /** Names of VMs that can be dumped now (running or paused), and the count skipped. */
  dumpable() {
    const ok = this.vms.filter((v) => DUMPABLE.has(vmState(v.state))).map((v) => v.name);
    return { names: ok, skipped: this.vms.length - ok.length };
  }

  names() {
    return this.vms.map((v) => v.name);
  }
}
