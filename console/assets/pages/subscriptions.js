// The device's subscriptions (Device.LocalAgent.Subscription.{i}.): list,
// create and delete.
import * as api from '../api.js';
import { h, replace, errorBox, flash, busy, field, select, table, confirmDialog } from '../dom.js';

const TABLE = 'Device.LocalAgent.Subscription.';
const COLUMNS = ['ID', 'NotifType', 'ReferenceList', 'Enable', 'Persistent', 'Recipient'];
const TYPES = ['ValueChange', 'ObjectCreation', 'ObjectDeletion', 'Event', 'OperationComplete'];

export async function subscriptions(panel, ctx) {
  const list = h('div', { 'aria-live': 'polite' });
  panel.append(h('h2', null, 'Subscriptions'), list);
  const load = async () => {
    try {
      const r = await api.post(api.dev(ctx.id, 'get'), { paths: [TABLE] }, { signal: ctx.signal });
      const byInstance = new Map();
      for (const [p, v] of Object.entries(r.values || {})) {
        const m = p.slice(TABLE.length).match(/^(\d+)\.([^.]+)$/);
        if (!m) continue;
        if (!byInstance.has(m[1])) byInstance.set(m[1], {});
        byInstance.get(m[1])[m[2]] = v;
      }
      const rows = [...byInstance.entries()].sort((a, b) => a[0] - b[0]).map(([i, s]) => {
        const path = `${TABLE}${i}.`;
        return h('tr', null, h('td', null, h('code', null, i)), COLUMNS.map((c) => h('td', null, s[c] ?? '')),
          h('td', null, ctx.can('operate') ? h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete subscription ${s.ID || i}`, onclick: (e) => remove(path, e.target) }, 'Delete') : null));
      });
      replace(list, rows.length ? table(['#', ...COLUMNS, ''], rows, { 'aria-label': 'Subscriptions' }) : h('p', { class: 'muted' }, 'The device has no subscriptions.'));
    } catch (e) {
      replace(list, errorBox(e));
    }
  };
  const remove = async (path, button) => {
    if (!(await confirmDialog(`Delete ${path}? The controller set up some subscriptions itself (Boot!, value changes); deleting them stops those notifications.`, 'Delete'))) return;
    try {
      const r = await busy(button, () => api.post(api.dev(ctx.id, 'delete'), { paths: [path] }));
      const res = r.results[0];
      if (res.error) throw new Error(`${res.error.name}: ${res.error.message}`);
      flash(`Deleted ${path}`);
      load();
    } catch (e) { flash(e.message, 'error'); }
  };
  await load();
  if (!ctx.can('operate')) return;

  const subID = h('input', { type: 'text', name: 'ID', required: true, spellcheck: 'false', value: 'console-' + Math.random().toString(36).slice(2, 7) });
  const type = select({ name: 'NotifType' }, TYPES, 'ValueChange');
  const refs = h('input', { type: 'text', name: 'ReferenceList', required: true, spellcheck: 'false', placeholder: 'Device.WiFi.SSID.*.SSID' });
  const enable = h('input', { type: 'checkbox', name: 'Enable', checked: true });
  const persistent = h('input', { type: 'checkbox', name: 'Persistent' });
  const create = h('button', { type: 'submit' }, 'Create subscription');
  const msg = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card stack' }, h('h3', null, 'New subscription'),
    h('div', { class: 'inline' }, field('ID', subID), field('Type', type),
      field('Reference list', refs, 'Comma-separated paths; search paths and wildcards allowed.')),
    h('div', { class: 'inline' }, h('label', { class: 'check' }, enable, ' Enabled'), h('label', { class: 'check' }, persistent, ' Persistent (kept across reboots)')),
    msg, create);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(msg);
    try {
      const params = { ID: subID.value.trim(), NotifType: type.value, ReferenceList: refs.value.trim(), Enable: String(enable.checked), Persistent: String(persistent.checked) };
      const r = await busy(create, () => api.post(api.dev(ctx.id, 'add'), { objects: [{ path: TABLE, params }] }));
      const res = r.results[0];
      if (res.error || res.param_errors?.length) {
        const pe = res.param_errors || [];
        replace(msg, errorBox([res.error?.message, ...pe.map((x) => `${x.param}: ${x.message}`)].filter(Boolean).join('; ')));
        return;
      }
      flash(`Created ${res.instantiated_path}`);
      subID.value = 'console-' + Math.random().toString(36).slice(2, 7);
      load();
    } catch (e2) {
      replace(msg, errorBox(e2));
    }
  });
  panel.append(form);
}
