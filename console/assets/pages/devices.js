// The devices table: server-side filter, sort and cursor pagination, so it
// stays fast for 100,000 devices; multi-select leads to a bulk job.
import * as api from '../api.js';
import { h, replace, badge, timeEl, field, select, table, errorBox } from '../dom.js';

const FILTERS = ['q', 'labels', 'status', 'model', 'manufacturer', 'software_version', 'sort', 'limit'];
const COLUMNS = [
  ['endpoint_id', 'Endpoint ID'], ['status', 'Status'], ['model', 'Model'],
  ['software_version', 'Software'], ['last_seen', 'Last seen'], [null, 'Labels'],
];

// selected endpoint IDs survive paging and filtering, until a job is made.
export const selected = new Set();
// back holds the cursors of earlier pages, for "Previous".
let back = [];
let backKey = '';

export async function render(main, ctx) {
  const p = ctx.params;
  const f = Object.fromEntries(FILTERS.map((k) => [k, p.get(k) || '']));
  const key = JSON.stringify(f);
  if (key !== backKey) { back = []; backKey = key; }
  const cursor = p.get('cursor') || '';

  const q = h('input', { type: 'search', name: 'q', value: f.q, placeholder: 'ID, serial, model, version, label…' });
  const labels = h('input', { type: 'text', name: 'labels', value: f.labels, placeholder: 'site=north,tier!=gold', spellcheck: 'false' });
  const status = select({ name: 'status' }, [['', 'Any'], ['online', 'Online'], ['offline', 'Offline']], f.status);
  const sizes = ['25', '50', '100', '250'];
  if (f.limit && !sizes.includes(f.limit)) sizes.unshift(f.limit); // from a link
  const limit = select({ name: 'limit' }, sizes, f.limit || '50');
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter devices' },
    field('Search', q), field('Labels', labels), field('Status', status), field('Per page', limit),
    h('div', { class: 'field actions' }, h('button', { type: 'submit' }, 'Apply'),
      h('button', { type: 'button', class: 'secondary', onclick: () => ctx.navigate('#/devices') }, 'Clear')));
  const go = (over) => {
    const next = { ...f, q: q.value.trim(), labels: labels.value.trim(), status: status.value, limit: limit.value === '50' ? '' : limit.value, ...over };
    ctx.navigate('#/devices' + api.query(next));
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); go({}); });
  status.addEventListener('change', () => go({}));
  limit.addEventListener('change', () => go({}));

  // Filters the form has no field for, set from the dashboard's charts.
  const chips = ['model', 'manufacturer', 'software_version'].filter((k) => f[k]).map((k) =>
    h('span', { class: 'label' }, `${k.replace('_', ' ')} = ${f[k]} `,
      h('button', { type: 'button', class: 'link', 'aria-label': `Remove the ${k.replace('_', ' ')} filter`, onclick: () => go({ [k]: '' }) }, '×')));
  if (chips.length) form.append(h('div', { class: 'field' }, h('span', { class: 'muted small' }, 'Also filtered by'), h('div', null, chips)));
  const bulk = h('div', { class: 'bulkbar', 'aria-live': 'polite' });
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Devices')), form, bulk, body);

  const drawBulk = () => {
    const n = selected.size;
    const selector = { status: f.status, labels: f.labels, q: f.q, model: f.model, manufacturer: f.manufacturer, software_version: f.software_version };
    replace(bulk,
      h('span', null, n ? `${n} selected` : 'Select devices to run a job on them.'),
      n ? h('button', { type: 'button', class: 'secondary small', onclick: () => { selected.clear(); render2(); } }, 'Clear selection') : null,
      ctx.can('operate') && n ? h('button', { type: 'button', class: 'small', id: 'bulk-job', onclick: () => {
        sessionStorage.setItem('cuttle.jobDevices', JSON.stringify([...selected]));
        ctx.navigate('#/jobs/new?devices=selected');
      } }, `Bulk job on ${n} device${n === 1 ? '' : 's'}…`) : null,
      ctx.can('operate') ? h('a', { class: 'button secondary small', href: '#/jobs/new' + api.query(selector) }, 'Bulk job on every match…') : null);
  };

  let page;
  try {
    page = await api.get('/api/v1/devices' + api.query({ ...f, cursor }), { signal: ctx.signal });
  } catch (e) {
    replace(body, errorBox(e));
    body.removeAttribute('aria-busy');
    drawBulk();
    return;
  }
  body.removeAttribute('aria-busy');

  const sortBy = f.sort || 'endpoint_id';
  const head = [h('th', { scope: 'col', class: 'check' }, selectAll())].concat(COLUMNS.map(([col, label]) => {
    if (!col) return h('th', { scope: 'col' }, label);
    const dir = sortBy === col ? 'ascending' : sortBy === '-' + col ? 'descending' : null;
    return h('th', { scope: 'col', 'aria-sort': dir || 'none' },
      h('button', { type: 'button', class: 'sort', onclick: () => go({ sort: dir === 'ascending' ? '-' + col : col }) },
        label, dir ? (dir === 'ascending' ? ' ▲' : ' ▼') : ''));
  }));

  function selectAll() {
    const ids = page.devices.map((d) => d.endpoint_id);
    const all = ids.length > 0 && ids.every((x) => selected.has(x));
    const some = ids.some((x) => selected.has(x));
    return h('input', { type: 'checkbox', 'aria-label': 'Select all on this page', checked: all, indeterminate: some && !all,
      onchange: (e) => { ids.forEach((x) => (e.target.checked ? selected.add(x) : selected.delete(x))); render2(); } });
  }

  function render2() {
    head[0] = h('th', { scope: 'col', class: 'check' }, selectAll());
    const rows = page.devices.map((d) => h('tr', { dataset: { endpoint: d.endpoint_id } },
      h('td', { class: 'check' }, h('input', { type: 'checkbox', 'aria-label': `Select ${d.endpoint_id}`, checked: selected.has(d.endpoint_id),
        onchange: (e) => { if (e.target.checked) selected.add(d.endpoint_id); else selected.delete(d.endpoint_id); render2(); } })),
      h('td', null, h('a', { href: `#/device/${encodeURIComponent(d.endpoint_id)}` }, d.endpoint_id)),
      h('td', null, badge(d.status)),
      h('td', null, d.model, h('div', { class: 'muted small' }, d.manufacturer)),
      h('td', null, d.software_version),
      h('td', null, timeEl(d.last_seen)),
      h('td', null, Object.entries(d.labels || {}).map(([k, v]) => h('a', { class: 'label', href: '#/devices' + api.query({ labels: `${k}=${v}` }) }, `${k}=${v}`)))));
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
      h('span', null, `${page.total} device${page.total === 1 ? '' : 's'}`),
      h('button', { type: 'button', class: 'secondary small', disabled: !cursor, onclick: () => go({ cursor: back.pop() || '' }) }, '← Previous'),
      h('button', { type: 'button', class: 'secondary small', disabled: !page.next, onclick: () => { back.push(cursor); go({ cursor: page.next }); } }, 'Next →'));
    replace(body, page.devices.length ? table(head, rows, { class: 'devices', 'aria-label': 'Devices' }) : h('p', { class: 'muted' }, 'No device matches.'), pager);
    drawBulk();
  }
  render2();
}
