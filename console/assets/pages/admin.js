// Admin pages: MQTT credentials of devices and controllers, and API tokens
// with the audit log.
import * as api from '../api.js';
import { h, replace, badge, field, select, errorBox, flash, busy, table, timeEl, fmtTime, confirmDialog } from '../dom.js';

export async function render(main, ctx) {
  if (ctx.view === 'tokens') return tokens(main, ctx);
  return credentials(main, ctx);
}

// secretBox shows a secret once, with a copy button.
function secretBox(label, secret) {
  const input = h('input', { type: 'text', readonly: true, value: secret, class: 'mono', 'aria-label': label });
  return h('div', { class: 'secret card', role: 'alert' }, h('p', null, h('strong', null, label), ' is shown only now; store it safely.'),
    h('div', { class: 'inline' }, input, h('button', { type: 'button', class: 'small', onclick: async () => {
      input.select();
      try { await navigator.clipboard.writeText(secret); flash('Copied.'); } catch { flash('Select the text and copy it.'); }
    } }, 'Copy')));
}

async function credentials(main, ctx) {
  const listBox = h('div');
  const shown = h('div', { 'aria-live': 'polite' });
  const role = select({ name: 'role' }, ['device', 'controller', 'admin'], 'device');
  const endpoint = h('input', { type: 'text', name: 'endpoint_id', spellcheck: 'false', placeholder: 'os::012345-0001' });
  const username = h('input', { type: 'text', name: 'username', spellcheck: 'false', autocomplete: 'off' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password' });
  const create = h('button', { type: 'submit' }, 'Create credential');
  const msg = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card stack', 'aria-labelledby': 'newcred' }, h('h2', { id: 'newcred' }, 'New credential'),
    h('div', { class: 'inline' }, field('Role', role), field('Endpoint ID', endpoint, 'Devices and controllers: the USP endpoint ID.'),
      field('Username', username, 'Default: the endpoint ID.'), field('Password', password, 'Empty: the broker generates a token.')),
    msg, create);
  const certs = revokedCerts(ctx);
  main.append(h('h1', null, 'Credentials'), h('p', { class: 'muted' }, 'Who may connect to the MQTT brokers, with a username and secret or with a client certificate.'),
    shown, form, h('h2', null, 'All credentials'), listBox, h('h2', null, 'Revoked client certificates'),
    h('p', { class: 'muted' }, 'The brokers refuse, and disconnect, clients that present one of these certificates.'), certs.form, certs.list);

  // showSecret puts a secret on screen once and moves the keyboard to it:
  // a rotation re-renders the row whose button had the focus.
  const showSecret = (label, secret) => {
    const box = secretBox(label, secret);
    replace(shown, box);
    box.querySelector('input').focus();
  };
  const load = async () => {
    const r = await api.get('/api/v1/credentials', { signal: ctx.signal });
    const path = (c, verb) => `/api/v1/credentials/${encodeURIComponent(c.username)}${verb ? '/' + verb : ''}`;
    const rows = r.credentials.map((c) => h('tr', null,
      h('td', null, h('code', null, c.username)), h('td', null, c.role), h('td', null, c.endpoint_id ? h('a', { href: `#/device/${encodeURIComponent(c.endpoint_id)}` }, c.endpoint_id) : ''),
      h('td', null, c.secret_kind), h('td', null, badge(c.disabled ? 'disabled' : 'enabled', c.disabled ? 'offline' : 'online')), h('td', null, timeEl(c.updated)),
      h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary small', onclick: (e) => act(e.target, `${c.disabled ? 'Enable' : 'Disable'} ${c.username}?`, 'Yes', () => api.post(path(c, c.disabled ? 'enable' : 'disable'))) }, c.disabled ? 'Enable' : 'Disable'),
        h('button', { type: 'button', class: 'secondary small', onclick: (e) => act(e.target,
          `Rotate the secret of ${c.username}? The old secret stops working at once: devices using it must be given the new one, which is shown only once.`, 'Rotate secret',
          () => api.post(path(c, 'rotate')), (r2) => showSecret(`The new secret of ${r2.credential.username}`, r2.secret)) }, 'Rotate secret'),
        h('button', { type: 'button', class: 'danger small', onclick: (e) => act(e.target, `Delete ${c.username}? It can no longer connect.`, 'Yes', () => api.del(path(c))) }, 'Delete'))));
    replace(listBox, rows.length ? table(['Username', 'Role', 'Endpoint', 'Secret', 'State', 'Updated', ''], rows, { 'aria-label': 'Credentials' }) : h('p', { class: 'muted' }, 'None.'));
  };
  // act confirms, calls f, hands its result to then, and reads the list again.
  const act = async (button, question, yes, f, then) => {
    if (!(await confirmDialog(question, yes))) return;
    try {
      const r = await busy(button, f);
      if (then) then(r);
      await load();
    } catch (e) { flash(e.message, 'error'); }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(msg);
    const body = { role: role.value };
    if (endpoint.value.trim()) body.endpoint_id = endpoint.value.trim();
    if (username.value.trim()) body.username = username.value.trim();
    if (password.value) body.password = password.value;
    try {
      const r = await busy(create, () => api.post('/api/v1/credentials', body));
      replace(shown, r.secret ? secretBox(`The secret of ${r.credential.username}`, r.secret) : h('p', { class: 'ok' }, `Created ${r.credential.username}.`));
      form.reset();
      await load();
    } catch (e2) { replace(msg, errorBox(e2)); }
  });
  await Promise.all([load(), certs.load()]);
}

// revokedCerts is the list of revoked client certificates, each with Accept
// again, and the form that revokes one: {form, list, load}.
function revokedCerts(ctx) {
  const listBox = h('div');
  const spec = h('input', { type: 'text', name: 'spec', required: true, spellcheck: 'false', autocomplete: 'off', placeholder: 'serial:0a1b… or sha256:…' });
  const reason = h('input', { type: 'text', name: 'reason', autocomplete: 'off' });
  const revoke = h('button', { type: 'submit', class: 'danger' }, 'Revoke certificate');
  const msg = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card stack', 'aria-labelledby': 'revokecert' }, h('h3', { id: 'revokecert' }, 'Revoke a certificate'),
    h('div', { class: 'inline' }, field('Certificate', spec, 'Its serial number or SHA-256 fingerprint in hex; colons between bytes are fine.'), field('Reason', reason, 'Optional, for the list.')),
    msg, revoke);

  const load = async () => {
    const r = await api.get('/api/v1/credentials/revoked', { signal: ctx.signal });
    const rows = r.revoked.map((x) => h('tr', null,
      h('td', { class: 'spec' }, h('code', null, x.spec)), h('td', null, x.reason || ''), h('td', null, timeEl(x.created)),
      h('td', { class: 'actions' }, h('button', { type: 'button', class: 'secondary small', onclick: async (e) => {
        if (!(await confirmDialog(`Accept ${x.spec} again? Clients that present this certificate can connect again.`, 'Accept again'))) return;
        try { await busy(e.target, () => api.post('/api/v1/credentials/unrevoke-cert', { spec: x.spec })); await load(); } catch (e2) { flash(e2.message, 'error'); }
      } }, 'Accept again'))));
    replace(listBox, rows.length ? table(['Certificate', 'Reason', 'Revoked', ''], rows, { 'aria-label': 'Revoked certificates' }) : h('p', { class: 'muted' }, 'None.'));
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(msg);
    const s = spec.value.trim();
    if (!(await confirmDialog(`Revoke ${s}? The brokers refuse and disconnect clients that present it.`, 'Revoke'))) return;
    try {
      await busy(revoke, () => api.post('/api/v1/credentials/revoke-cert', { spec: s, reason: reason.value.trim() }));
      form.reset();
      await load();
    } catch (e2) { replace(msg, errorBox(e2)); }
  });
  return { form, list: listBox, load };
}

async function tokens(main, ctx) {
  const listBox = h('div');
  const shown = h('div', { 'aria-live': 'polite' });
  const name = h('input', { type: 'text', name: 'name', required: true });
  const role = select({ name: 'role' }, ['viewer', 'operator', 'admin'], 'viewer');
  const ttl = h('input', { type: 'text', name: 'ttl', placeholder: '720h', spellcheck: 'false' });
  const create = h('button', { type: 'submit' }, 'Create token');
  const msg = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card stack', 'aria-labelledby': 'newtok' }, h('h2', { id: 'newtok' }, 'New token'),
    h('div', { class: 'inline' }, field('Name', name), field('Role', role, 'Viewers read; operators also change devices and run jobs; admins also manage credentials and tokens.'), field('Expires after', ttl, 'A duration such as 720h; empty: never.')),
    msg, create);
  const audit = h('div');
  main.append(h('h1', null, 'API tokens'), shown, form, h('h2', null, 'All tokens'), listBox, h('h2', null, 'Audit log'), h('p', { class: 'muted' }, 'The latest 50 changes made through the API, refused ones included.'), audit);

  const load = async () => {
    const r = await api.get('/api/v1/tokens', { signal: ctx.signal });
    const rows = r.tokens.map((t) => h('tr', null,
      h('td', null, t.name, t.id === ctx.me.token_id ? h('span', { class: 'muted' }, ' (you)') : null), h('td', null, t.role),
      h('td', null, h('code', null, t.id)), h('td', null, timeEl(t.created), t.created_by ? ` by ${t.created_by}` : ''),
      h('td', null, t.last_used ? timeEl(t.last_used) : 'never'), h('td', null, t.expires ? fmtTime(t.expires) : 'never'),
      h('td', null, t.revoked ? badge('revoked', 'offline') : h('button', { type: 'button', class: 'danger small', onclick: async (e) => {
        if (!(await confirmDialog(`Revoke ${t.name}? Anyone using it is signed out.`, 'Revoke'))) return;
        try { await busy(e.target, () => api.del(`/api/v1/tokens/${encodeURIComponent(t.id)}`)); await load(); } catch (e2) { flash(e2.message, 'error'); }
      } }, 'Revoke'))));
    replace(listBox, table(['Name', 'Role', 'ID', 'Created', 'Last used', 'Expires', ''], rows, { 'aria-label': 'Tokens' }));
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(msg);
    const body = { name: name.value.trim(), role: role.value };
    if (ttl.value.trim()) body.ttl = ttl.value.trim();
    try {
      const r = await busy(create, () => api.post('/api/v1/tokens', body));
      replace(shown, secretBox(`The token ${r.token.name}`, r.secret));
      form.reset();
      await load();
    } catch (e2) { replace(msg, errorBox(e2)); }
  });
  await load();
  try {
    const a = await api.get('/api/v1/audit' + api.query({ limit: 50 }), { signal: ctx.signal });
    const entries = [...(a.entries || [])].sort((x, y) => y.id - x.id); // newest first
    replace(audit, entries.length ? table(['Time', 'Who', 'Request', 'Status', 'Summary'], entries.map((x) => h('tr', null,
      h('td', null, fmtTime(x.time)), h('td', null, x.token_name, x.role ? ` (${x.role})` : ''), h('td', null, h('code', null, `${x.method} ${x.path}`)),
      h('td', null, x.status), h('td', null, x.summary || '')))) : h('p', { class: 'muted' }, 'Nothing audited yet.'));
  } catch (e) { replace(audit, errorBox(e)); }
}
