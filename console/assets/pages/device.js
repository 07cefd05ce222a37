// The device page: identity, boot, labels and online history; the data
// model explorer; subscriptions; the event timeline. One event stream per
// page keeps the status badge live and feeds the other tabs.
import * as api from '../api.js';
import { h, replace, badge, timeEl, fmtTime, field, flash, busy, table, select, confirmDialog } from '../dom.js';
import { explorer } from './explorer.js';
import { subscriptions } from './subscriptions.js';

const TABS = [['overview', 'Overview'], ['explorer', 'Data model'], ['subscriptions', 'Subscriptions'], ['events', 'Events']];

export async function render(main, ctx) {
  const id = ctx.parts[0];
  const tab = ctx.parts[1] || 'overview';
  if (!id) { ctx.navigate('#/devices'); return; }
  let d = await api.get(api.dev(id), { signal: ctx.signal });

  const status = h('span', { id: 'device-status', 'aria-live': 'polite' }, badge(d.status));
  const since = h('span', { class: 'muted' });
  const showStatus = () => { replace(status, badge(d.status)); replace(since, ' since ', timeEl(d.status_since)); };
  showStatus();
  const base = `#/device/${encodeURIComponent(id)}`;
  const panel = h('section', { class: 'tab-panel', 'aria-labelledby': `tab-${tab}` });
  main.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/devices' }, 'Devices'), ' / '),
    h('div', { class: 'page-head' }, h('h1', null, id), status, since,
      h('a', { class: 'button secondary small', href: `#/traffic?device=${encodeURIComponent(id)}` }, 'Traffic')),
    h('p', { class: 'muted' }, [d.manufacturer, d.model, d.software_version && `software ${d.software_version}`].filter(Boolean).join(' · ')),
    h('nav', { class: 'tabs', 'aria-label': 'Device sections' }, TABS.map(([t, label]) =>
      h('a', { href: `${base}/${t}`, id: `tab-${t}`, 'aria-current': t === tab ? 'page' : null }, label))),
    panel);

  // The device's events, live: the status badge, and whoever listens.
  const listeners = new Set();
  const recent = await api.get('/api/v1/events' + api.query({ device: id, order: 'desc', limit: 1 }), { signal: ctx.signal });
  const dctx = { ...ctx, id, device: () => d, onEvent: (f) => { listeners.add(f); return () => listeners.delete(f); }, lastEventID: recent.events[0]?.id || 0 };
  api.stream('/api/v1/events/stream' + api.query({ device: id, after: dctx.lastEventID }), {
    signal: ctx.signal,
    onEvent: async (ev) => {
      const e = ev.data;
      if (!e || typeof e !== 'object') return;
      if (e.type === 'online' || e.type === 'offline') {
        d = { ...d, status: e.type, status_since: e.time };
        showStatus();
      }
      listeners.forEach((f) => f(e));
      if (e.type === 'boot' || e.type === 'online') {
        try { d = await api.get(api.dev(id), { signal: ctx.signal }); showStatus(); } catch { /* keep what we have */ }
      }
      return;
      listeners.forEach((f) => f(e));
    },
  });

  switch (tab) {
    case 'explorer': await explorer(panel, dctx); break;
    case 'subscriptions': await subscriptions(panel, dctx); break;
    case 'events': await timeline(panel, dctx); break;
    default: await overview(panel, dctx);
  }
}

function dl(pairs) {
  return h('dl', { class: 'props' }, pairs.filter(([, v]) => v !== undefined && v !== '' && v !== null).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

async function overview(panel, ctx) {
  const d = ctx.device();
  const b = d.boot || {};
  const labels = h('div');
  const history = h('ol', { class: 'timeline', 'aria-label': 'Online history' });
  panel.append(h('div', { class: 'grid2' },
    h('section', { class: 'card' }, h('h2', null, 'Identity'), dl([
      ['Endpoint ID', h('code', null, d.endpoint_id)], ['Manufacturer', d.manufacturer], ['OUI', d.manufacturer_oui],
      ['Model', d.model], ['Product class', d.product_class], ['Serial number', d.serial_number],
      ['Software version', d.software_version], ['Hardware version', d.hardware_version],
      ['Broker node', d.broker_node], ['Remote address', d.remote], ['Reply topic', d.reply_topic && h('code', null, d.reply_topic)],
      ['Subscriptions set up', d.subscribed === undefined ? undefined : d.subscribed ? 'yes' : 'no'],
      ['Last seen', fmtTime(d.last_seen)], ['First seen', fmtTime(d.created)]])),
    h('section', { class: 'card' }, h('h2', null, 'Last boot'), d.boot ? dl([
      ['Time', fmtTime(b.time)], ['Cause', b.cause], ['Command key', b.command_key], ['Reason', b.reason],
      ['Firmware updated', b.firmware_updated ? 'yes' : 'no'],
      ...Object.entries(b.parameter_map || {}).map(([k, v]) => [k, v])]) : h('p', { class: 'muted' }, 'No Boot! event received yet.')),
    h('section', { class: 'card' }, h('h2', null, 'Labels'), labels),
    h('section', { class: 'card' }, h('h2', null, 'Online history'), history)));
  drawLabels(labels, ctx, d.labels || {});
  if (ctx.can('manage-devices')) panel.append(removeCard(ctx));

  const kinds = ['online', 'offline', 'boot'];
  const r = await api.get('/api/v1/events' + api.query({ device: ctx.id, type: kinds.join(','), order: 'desc', limit: 30 }), { signal: ctx.signal });
  replace(history, r.events.length ? r.events.map(historyItem) : h('li', { class: 'muted' }, 'No connection events yet.'));
  ctx.onEvent((e) => { if (kinds.includes(e.type)) history.prepend(historyItem(e)); });
}

// removeCard deletes the device from the inventory; admins may also
// revoke its broker credential, so it cannot come back.
function removeCard(ctx) {
  const revoke = h('input', { type: 'checkbox', name: 'revoke', disabled: !ctx.can('admin') });
  const button = h('button', { type: 'button', class: 'danger' }, 'Delete from inventory');
  button.addEventListener('click', async () => {
    const also = revoke.checked ? ' and revoke its credential, so it cannot connect again' : '; it reappears if it connects again';
    if (!(await confirmDialog(`Delete ${ctx.id} from the inventory${also}?`, 'Delete'))) return;
    try {
      await busy(button, () => api.del(api.dev(ctx.id) + api.query({ revoke: revoke.checked ? 'true' : '' })));
      flash(`Deleted ${ctx.id}.`);
      ctx.navigate('#/devices');
    } catch (e) { flash(e.message, 'error'); }
  });
  return h('section', { class: 'card' }, h('h2', null, 'Remove'),
    h('div', { class: 'inline' }, h('label', { class: 'check' }, revoke, ' Also revoke its credential', ctx.can('admin') ? '' : ' (admins only)'), button));
}

function historyItem(e) {
  const extra = e.data?.Cause || e.data?.reason || '';
  return h('li', null, badge(e.type), ' ', fmtTime(e.time), extra ? h('span', { class: 'muted' }, ` ${extra}`) : null);
}

function drawLabels(box, ctx, labels) {
  const editable = ctx.can('manage-devices');
  const save = async (body, button) => {
    try {
      const d = await busy(button, () => api.patch(api.dev(ctx.id, 'labels'), body));
      drawLabels(box, ctx, d.labels || {});
    } catch (e) { flash(e.message, 'error'); }
  };
  const items = Object.entries(labels).map(([k, v]) => h('li', null, h('span', { class: 'label' }, `${k}=${v}`),
    editable ? h('button', { type: 'button', class: 'link', 'aria-label': `Remove label ${k}`, onclick: (e) => save({ remove: [k] }, e.target) }, '×') : null));
  const key = h('input', { type: 'text', name: 'key', required: true, spellcheck: 'false' });
  const value = h('input', { type: 'text', name: 'value', spellcheck: 'false' });
  const add = h('button', { type: 'submit', class: 'small' }, 'Set label');
  const form = editable ? h('form', { class: 'inline' }, field('Key', key), field('Value', value), add) : null;
  form?.addEventListener('submit', (e) => { e.preventDefault(); save({ set: { [key.value.trim()]: value.value } }, add); });
  replace(box, items.length ? h('ul', { class: 'labels' }, items) : h('p', { class: 'muted' }, 'No labels.'), form);
}

async function timeline(panel, ctx) {
  const types = ['', 'value_change', 'object_creation', 'object_deletion', 'event', 'operation_complete', 'boot', 'online', 'offline', 'on_board'];
  const type = select({ name: 'type' }, types.map((t) => [t, t || 'All types']), ctx.params.get('type') || '');
  const list = h('ol', { class: 'timeline', 'aria-label': 'Events', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'secondary small' }, 'Older events');
  panel.append(h('form', { class: 'filters' }, field('Type', type)), list, more);
  let oldest = 0;
  const load = async (reset) => {
    const r = await api.get('/api/v1/events' + api.query({ device: ctx.id, type: type.value, order: 'desc', limit: 100, before: reset ? '' : oldest }), { signal: ctx.signal });
    if (reset) replace(list);
    list.append(...r.events.map(detailItem));
    if (r.events.length) oldest = r.events[r.events.length - 1].id;
    more.hidden = r.events.length < 100;
    if (reset && !r.events.length) list.append(h('li', { class: 'muted' }, 'No events.'));
  };
  type.addEventListener('change', () => load(true).catch((e) => flash(e.message, 'error')));
  more.addEventListener('click', () => busy(more, () => load(false)).catch((e) => flash(e.message, 'error')));
  ctx.onEvent((e) => { if (!type.value || e.type === type.value) list.prepend(detailItem(e)); });
  await load(true);
}

function detailItem(e) {
  const data = Object.entries(e.data || {});
  return h('li', null, h('div', null, badge(e.type), ' ', fmtTime(e.time), e.path ? [' ', h('code', null, e.path)] : null,
    e.subscription_id ? h('span', { class: 'muted' }, ` subscription ${e.subscription_id}`) : null),
  data.length ? h('details', null, h('summary', null, `${data.length} value${data.length === 1 ? '' : 's'}`),
    table(['Name', 'Value'], data.map(([k, v]) => h('tr', null, h('td', null, h('code', null, k)), h('td', null, v))))) : null);
}

