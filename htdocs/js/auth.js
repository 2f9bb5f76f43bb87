// Who is using the page (GET /session), the login dialog, logout, and what the role allows
// (docs/security.md). The server enforces every rule; this only hides or disables what the
// role cannot do, with the reason shown, and asks for a login when a call answers 401.
//
// The login dialog serves both the first login and a session that ended while the page was
// open: then nothing on the page is touched (selection, filters, open view), calls that were
// refused wait (api.js) and go on after the login, and focus returns to where it was.

import { $, setText } from './dom.js';
import { api, ApiError, setAuthHooks } from './api.js';
import { notify, trapTab } from './ui.js';

export const ROLES = ['viewer', 'operator', 'investigator', 'admin'];
const AUTH_KINDS = ['password', 'token', 'remote', 'none'];
const LOGGED_OUT_KEY = 'memdump.loggedOut';
const FORBIDDEN_QUIET_MS = 30000; // the same refusal is shown once per this time
export const MSG_ENDED = 'Your session has ended; log in again.';

function str(v) { return typeof v === 'string' ? v : ''; }

/** The current identity, or null before the first answer. */
let current = null;
let serverAuth = null;     // /status "auth": "local" | "none"
let waiting = null;        // {promise, resolve} while the login dialog is needed
let returnFocus = null;
let onChange = () => {};
let onResume = () => {};
const forbiddenSeen = new Map(); // message -> time shown

/** A session object from the API, checked field by field. */
export function parseSession(data) {
  const s = data && typeof data === 'object' && data.session && typeof data.session === 'object' ? data.session : null;
  if (!s) return null;
  const role = ROLES.includes(s.role) ? s.role : 'viewer';
  return {
    user: str(s.user) || 'unknown',
    auth: AUTH_KINDS.includes(s.auth) ? s.auth : 'password',
    role,
    groups: Array.isArray(s.groups) ? s.groups.filter((g) => typeof g === 'string') : [],
    grants: Array.isArray(s.grants) ? s.grants.filter((g) => g && typeof g === 'object') : [],
    expires_at: str(s.expires_at) || null,
  };
}

export function session() {
  return current;
}

/** True when the session's (highest) role includes `role`. */
export function hasRole(role) {
  if (!current) return false;
  return ROLES.indexOf(current.role) >= ROLES.indexOf(role);
}

export function roleName() {
  return current ? current.role : 'nobody';
}

/** "Needs the operator role" (title) and a sentence for the visible note. */
export function needsText(role) {
  return `Needs the ${role} role`;
}

/* ---- header and banner ------------------------------------------------------------ */

function renderWho() {
  const box = $('whoami');
  if (!current) { box.hidden = true; return; }
  setText($('who-user'), current.user);
  $('who-user').setAttribute('title', current.groups.length ? `groups: ${current.groups.join(', ')}` : current.user);
  setText($('who-role'), current.role);
  // a web server login (REMOTE_USER) or no access control cannot be left from here
  $('logout').hidden = !(current.auth === 'password' || current.auth === 'token');
  box.hidden = false;
  renderAuthOff();
}

function renderAuthOff() {
  $('auth-off').hidden = !(serverAuth === 'none' || (current && current.auth === 'none'));
}

/** /status says how the API runs: "local" or "none" (no access control). */
export function setServerAuth(mode) {
  if (mode !== 'local' && mode !== 'none') return;
  if (mode === serverAuth) return;
  serverAuth = mode;
  renderAuthOff();
}

function apply(s) {
  current = s;
  renderWho();
  onChange(current);
}

/* ---- the login dialog -------------------------------------------------------------- */

function dialog() {
  return $('login');
}

function setMessage(text, level) {
  const m = $('login-message');
  m.className = `login-message${level ? ` login-${level}` : ''}`;
  setText(m, '');
  // a fresh text node, so the alert is read out again when the same words come back
  if (text) setTimeout(() => setText(m, text), 20);
}

function openLogin(message, level) {
  const dlg = dialog();
  if (!dlg.open) {
    const a = document.activeElement;
    returnFocus = a instanceof HTMLElement && a !== document.body && !dlg.contains(a) ? a : returnFocus;
    dlg.showModal();
  }
  setMessage(message, level);
  $('login-password').value = '';
  const user = $('login-user');
  if (current && !user.value) user.value = current.user;
  user.focus();
  user.select();
}

/** The promise that resolves after the next successful login (opening the dialog). */
function needLogin(message, level) {
  if (!waiting) {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    waiting = { promise, resolve };
  }
  openLogin(message, level);
  return waiting.promise;
}

function closeLogin() {
  const dlg = dialog();
  const w = waiting;
  waiting = null;
  if (dlg.open) dlg.close('login');
  const back = returnFocus;
  returnFocus = null;
  if (back && back.isConnected && back.offsetParent !== null && typeof back.focus === 'function') back.focus();
  else $('main').focus();
  if (w) w.resolve(current);
}

async function submitLogin(ev) {
  ev.preventDefault();
  const user = $('login-user').value.trim();
  const password = $('login-password').value;
  if (!user || !password) {
    setMessage(!user ? 'Enter your user name.' : 'Enter your password.', 'error');
    (!user ? $('login-user') : $('login-password')).focus();
    return;
  }
  const btn = $('login-submit');
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    const s = parseSession(await api.login(user, password));
    if (!s) throw new ApiError(0, 'bad_response', 'The server answered the login without a session.');
    const before = current;
    $('login-password').value = '';
    if (before && before.user !== s.user) {
      // someone else took over this page: start afresh rather than show them the last one's page
      location.reload();
      return;
    }
    apply(s);
    closeLogin();
    onResume();
  } catch (e) {
    const err = e instanceof ApiError ? e : new ApiError(0, 'client_error', String(e && e.message ? e.message : e));
    $('login-password').value = '';
    if (err.code === 'rate_limited' || err.status === 429) {
      setMessage(err.retryAfter !== null
        ? `Too many attempts, try again in ${err.retryAfter} s.`
        : 'Too many attempts, wait a moment and try again.', 'error');
    } else if (err.code === 'invalid_credentials' || err.status === 401) {
      setMessage('Wrong user name or password.', 'error');
    } else {
      setMessage(`Cannot log in: ${err.message}`, 'error');
    }
    $('login-password').focus();
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

async function logout() {
  const btn = $('logout');
  btn.disabled = true;
  try {
    await api.logout();
  } catch (e) {
    // a session that is already gone is logged out all the same
    if (!(e instanceof ApiError && e.status === 401)) {
      notify(`Logout failed: ${e.message}`, 'error');
      btn.disabled = false;
      return;
    }
  }
  try { sessionStorage.setItem(LOGGED_OUT_KEY, '1'); } catch { /* storage off */ }
  // a fresh page: nothing of the last user's data stays on screen
  location.reload();
}

/* ---- start ------------------------------------------------------------------------- */

/**
 * Install the 401/403 handling and find out who is here; resolves once someone is logged
 * in (or the API has no access control). changed(session) runs on every new identity,
 * resumed() after a login that ended a wait.
 */
export async function initAuth({ changed, resumed } = {}) {
  if (changed) onChange = changed;
  if (resumed) onResume = resumed;
  const dlg = dialog();
  trapTab(dlg);
  // Escape must not dismiss the login; if the browser closes it anyway, it comes back
  dlg.addEventListener('cancel', (ev) => ev.preventDefault());
  dlg.addEventListener('close', () => {
    if (waiting) setTimeout(() => { if (waiting && !dlg.open) openLogin($('login-message').textContent, 'info'); }, 0);
  });
  $('login-form').addEventListener('submit', submitLogin);
  $('logout').addEventListener('click', logout);
  setAuthHooks({
    unauthenticated: () => needLogin(MSG_ENDED, 'info'),
    pending: () => (waiting ? waiting.promise : null),
    forbidden: (e) => {
      const msg = e.message || 'This needs a higher role.';
      const at = forbiddenSeen.get(msg);
      if (at && Date.now() - at < FORBIDDEN_QUIET_MS) return;
      forbiddenSeen.set(msg, Date.now());
      notify(`Refused by the server: ${msg}`, 'error');
    },
  });

  let loggedOut = false;
  try { loggedOut = sessionStorage.getItem(LOGGED_OUT_KEY) === '1'; sessionStorage.removeItem(LOGGED_OUT_KEY); } catch { /* storage off */ }
  try {
    const s = parseSession(await api.session());
    if (!s) throw new ApiError(0, 'bad_response', 'The server answered /session without a session.');
    apply(s);
    return current;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      await needLogin(loggedOut ? 'You have logged out.' : '', 'info');
      return current;
    }
    if (e instanceof ApiError && e.status === 404) {
      // an API without sessions: no access control
      apply({ user: 'anonymous', auth: 'none', role: 'admin', groups: [], grants: [], expires_at: null });
      return current;
    }
    // the API or Redis is down: let the user try to log in (it says why if it fails)
    await needLogin(`Cannot check your session: ${e.message}`, 'error');
    return current;
  }
}
