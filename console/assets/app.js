// The console's entry point: sign-in state, navigation and the hash router.
import * as api from './api.js';
import { h, replace, errorBox, field, flash } from './dom.js';
import * as dashboard from './pages/dashboard.js';
import * as devices from './pages/devices.js';
import * as device from './pages/device.js';
import * as traffic from './pages/traffic.js';
import * as jobs from './pages/jobs.js';
import * as admin from './pages/admin.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

// me is the signed-in token's identity from whoami, or null.
let me = null;
let current = null; // {abort: AbortController} of the page on screen

const pages = [
  { path: 'dashboard', title: 'Dashboard', page: dashboard },
  { path: 'devices', title: 'Devices', page: devices },
  { path: 'device', page: device },
  { path: 'traffic', title: 'Traffic', page: traffic },
  { path: 'jobs', title: 'Jobs', page: jobs },
  { path: 'job', page: jobs, view: 'job' },
  { path: 'credentials', title: 'Credentials', page: admin, view: 'credentials', action: 'admin' },
  { path: 'tokens', title: 'Tokens', page: admin, view: 'tokens', action: 'admin' },
];

const can = (action) => !!me && (me.actions || []).includes(action);

// parseHash splits "#/device/x/explorer?a=b" into ['device','x','explorer'] and the query.
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [p, q = ''] = raw.split('?');
  return { parts: p.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(q) };
}

export function navigate(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function renderNav(active) {
  replace(nav, me && h('ul', null, pages.filter((p) => p.title && (!p.action || can(p.action))).map((p) =>
    h('li', null, h('a', { href: `#/${p.path}`, 'aria-current': active === p.path || (active === 'device' && p.path === 'devices') || (active === 'job' && p.path === 'jobs') ? 'page' : null }, p.title)))));
  replace(who, me ? [
    h('span', { class: 'who-name', title: `token ${me.token_id}${me.expires_at ? `, expires ${new Date(me.expires_at).toLocaleString()}` : ''}` }, me.name, ' · ', h('strong', null, me.role)),
    h('button', { type: 'button', class: 'secondary small', onclick: signOut }, 'Sign out'),
  ] : []);
}

function signOut() {
  api.clearToken();
  me = null;
  navigate('#/signin');
}

async function route() {
  current?.abort.abort();
  const abort = new AbortController();
  current = { abort };
  const { parts, params } = parseHash();
  if (!me && api.token()) {
    try {
      me = await api.whoami(api.token());
      watchExpiry();
    } catch (e) {
      if (e.status === 401) api.clearToken(); else { showSignIn(e); return; }
    }
  }
  if (!me) { showSignIn(); return; }
  if (abort.signal.aborted) return;
  const name = parts[0] || 'dashboard';
  const entry = pages.find((p) => p.path === name) || (name === 'signin' ? pages[0] : null);
  renderNav(entry?.path);
  document.body.dataset.role = me.role;
  if (!entry) {
    replace(main, h('h1', null, 'Not found'), h('p', null, 'There is no such page. ', h('a', { href: '#/dashboard' }, 'Go to the dashboard.')));
    return;
  }
  if (entry.action && !can(entry.action)) {
    replace(main, h('h1', null, entry.title), errorBox(`The ${me.role} role may not see this page.`));
    return;
  }
  const ctx = { me, can, signal: abort.signal, params, parts: parts.slice(1), navigate, view: entry.view };
  document.title = `${entry.title || name} · Cuttle`;
  replace(main);
  try {
    await entry.page.render(main, ctx);
  } catch (e) {
    if (e.name === 'AbortError' || abort.signal.aborted) return;
    main.append(errorBox(e));
  }
  if (!abort.signal.aborted && document.activeElement === document.body) main.focus({ preventScroll: true });
}

function showSignIn(err) {
  renderNav(null);
  document.title = 'Sign in · Cuttle';
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true, spellcheck: 'false', placeholder: 'cut_…' });
  const msg = h('div', { 'aria-live': 'polite' }, err ? errorBox(err) : null);
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'signin card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to Cuttle'),
    h('p', null, 'Paste an API token. ', h('code', null, 'cuttle up'), ' writes the first admin token to ', h('code', null, '<data>/admin.token'), '; admins create more on the Tokens page or with ', h('code', null, 'cuttle token create'), '.'),
    field('API token', input, 'Kept in this tab only (session storage) until you sign out or close it.'),
    msg, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const t = input.value.trim();
    submit.disabled = true;
    replace(msg);
    try {
      me = await api.whoami(t);
      api.setToken(t);
      watchExpiry();
      const { parts } = parseHash();
      navigate(parts[0] && parts[0] !== 'signin' ? location.hash : '#/dashboard');
    } catch (e2) {
      replace(msg, errorBox(e2.status === 401 ? 'That token was not accepted: it is unknown, revoked or expired.' : e2));
    } finally {
      submit.disabled = false;
    }
  });
  replace(main, form);
  input.focus();
}

// A token with an expiry signs out when it expires, rather than at the
// next failed call.
let expiry = null;
function watchExpiry() {
  clearTimeout(expiry);
  const left = me?.expires_at ? new Date(me.expires_at) - Date.now() : NaN;
  if (left > 0 && left < 2 ** 31 - 1) {
    expiry = setTimeout(() => {
      me = null;
      api.clearToken();
      flash('Your token has expired; sign in with another.', 'error');
      route();
    }, left);
  }
}

api.onUnauthorized(() => {
  if (!me) return;
  me = null;
  api.clearToken();
  flash('Your token is no longer accepted; sign in again.', 'error');
  route();
});

// A bookmarked /devices becomes #/devices.
if (location.pathname !== '/' && !location.hash) {
  history.replaceState(null, '', '/#' + location.pathname + location.search);
}
window.addEventListener('hashchange', route);
route();
