// The traffic inspector: USP records to and from one device or the whole
// fleet, live, with the MQTT 5 properties and the decoded Record and Msg.
import * as api from '../api.js';
import { h, replace, badge, field, errorBox, pretty, fmtTime } from '../dom.js';

const MAX_ROWS = 500;

export async function render(main, ctx) {
  const device = ctx.params.get('device') || '';
  const input = h('input', { type: 'text', name: 'device', value: device, spellcheck: 'false', placeholder: 'all devices' });
  const pause = h('button', { type: 'button', class: 'secondary small', 'aria-pressed': 'false' }, 'Pause');
  const clear = h('button', { type: 'button', class: 'secondary small' }, 'Clear');
  const state = h('span', { class: 'live' }, 'connecting…');
  const only = h('input', { type: 'search', name: 'only', spellcheck: 'false', placeholder: 'GET, NOTIFY, a path, a msg ID…' });
  const form = h('form', { class: 'filters', role: 'search' }, field('Device (endpoint ID)', input), field('Show only', only),
    h('div', { class: 'field actions' }, h('button', { type: 'submit' }, 'Watch'), pause, clear));
  form.addEventListener('submit', (e) => { e.preventDefault(); ctx.navigate('#/traffic' + api.query({ device: input.value.trim() })); });
  const rows = h('tbody');
  const detail = h('section', { class: 'card detail', 'aria-label': 'Message detail', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Select a message to see its properties and decoded content.'));
  const list = h('div', { class: 'table-wrap traffic-list' }, h('table', { class: 'traffic', 'aria-label': 'USP messages' },
    h('thead', null, h('tr', null, ['Time', 'Dir', 'Device', 'Message', 'Msg ID', 'Size'].map((c) => h('th', { scope: 'col' }, c)))), rows));
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Traffic'), state,
    h('p', { class: 'muted' }, device ? `USP records to and from ${device}.` : 'USP records to and from every device, as this controller sends and receives them.')),
  form, h('div', { class: 'split' }, list, detail));

  let paused = false;
  const held = [];
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) { held.splice(0).forEach(add); }
  });
  clear.addEventListener('click', () => { replace(rows); showDetail(null); });

  // "Show only" hides rows whose message type, record type, message ID,
  // device and decoded Msg (paths, values) all miss the text; it applies to
  // rows as they arrive, too.
  const matches = (search) => {
    const f = only.value.trim().toLowerCase();
    return !f || search.includes(f);
  };
  only.addEventListener('input', () => {
    for (const tr of rows.children) if (tr.dataset.search !== undefined) tr.hidden = !matches(tr.dataset.search);
    // Keep the tab stop on a row that shows.
    const stop = rows.querySelector('tr[tabindex="0"]');
    const first = [...rows.children].find((tr) => tr.dataset.search !== undefined && !tr.hidden);
    if (stop?.hidden && first) { stop.tabIndex = -1; first.tabIndex = 0; }
  });

  let selected = null;
  function showDetail(m) {
    if (!m) { replace(detail, h('p', { class: 'muted' }, 'Select a message.')); return; }
    const p = m.properties || {};
    const props = [
      ['Topic', h('code', null, m.topic)], ['QoS', m.qos], ['Retain', m.retain ? 'yes' : 'no'],
      ['Response topic', p.response_topic ? h('code', null, p.response_topic) : '—'],
      ['Correlation data', p.correlation_data ? `${p.correlation_data}${p.correlation_data_base64 ? ' (base64)' : ''}` : '—'],
      ['Content type', p.content_type || '—'],
      ['User properties', (p.user_properties || []).length ? (p.user_properties || []).map((u) => `${u.key}=${u.value}`).join(', ') : '—'],
      ['Payload', `${m.size} bytes`],
    ];
    replace(detail,
      h('h2', null, m.direction === 'out' ? 'Controller → device' : 'Device → controller', ': ', m.msg_type || m.record_type || 'record'),
      h('p', { class: 'muted' }, fmtTime(m.time), ' · ', h('a', { href: `#/device/${encodeURIComponent(m.endpoint_id)}` }, m.endpoint_id)),
      h('h3', null, 'MQTT'), h('dl', { class: 'props' }, props.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
      m.publish_error ? errorBox(`Not sent: ${m.publish_error}`) : null,
      m.error ? errorBox(`Not decoded: ${m.error}`) : null,
      h('h3', null, 'Record'), m.record ? pretty(m.record, { class: 'json record' }) : h('p', { class: 'muted' }, '—'),
      h('h3', null, 'Msg'), m.msg ? pretty(m.msg, { class: 'json msg' }) : h('p', { class: 'muted' }, 'No Msg (a session or connect record).'));
  }

  function add(m) {
    const search = [m.msg_type, m.record_type, m.msg_id, m.endpoint_id, m.msg ? JSON.stringify(m.msg) : ''].join(' ').toLowerCase();
    // One row is in the tab order (roving tabindex): the newest, unless the
    // user chose or is on another. Arrows move between rows.
    const stop = rows.querySelector('tr[tabindex="0"]');
    const keep = stop && (stop === selected || stop === document.activeElement || !matches(search));
    if (stop && !keep) stop.tabIndex = -1;
    const tr = h('tr', { tabindex: keep ? '-1' : '0', class: 'msgrow', dataset: { id: m.id, type: m.msg_type || '', search } },
      h('td', null, new Date(m.time).toLocaleTimeString()),
      h('td', null, h('span', { class: `dir ${m.direction}`, title: m.direction === 'out' ? 'controller to device' : 'device to controller' }, m.direction === 'out' ? '→ out' : '← in')),
      h('td', null, m.endpoint_id),
      h('td', null, m.publish_error ? badge('not sent', 'offline') : m.error ? badge('undecodable', 'offline') : badge(m.msg_type || m.record_type || '?', (m.msg_type || '').toLowerCase().includes('error') ? 'offline' : 'msg')),
      h('td', { class: 'small' }, m.msg_id),
      h('td', null, m.size));
    const choose = () => {
      selected?.removeAttribute('aria-current');
      selected = tr;
      tr.setAttribute('aria-current', 'true');
      rows.querySelectorAll('tr[tabindex="0"]').forEach((r) => { r.tabIndex = -1; });
      tr.tabIndex = 0;
      showDetail(m);
    };
    tr.addEventListener('click', choose);
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); choose(); }
      const step = (next) => {
        let r = next(tr);
        while (r && r.hidden) r = next(r);
        if (!r) return;
        tr.tabIndex = -1;
        r.tabIndex = 0;
        r.focus();
      };
      if (e.key === 'ArrowDown') { e.preventDefault(); step((r) => r.nextElementSibling); }
      if (e.key === 'ArrowUp') { e.preventDefault(); step((r) => r.previousElementSibling); }
    });
    tr.hidden = !matches(search);
    rows.prepend(tr);
    while (rows.children.length > MAX_ROWS) {
      const gone = rows.lastChild;
      gone.remove();
      if (gone.tabIndex === 0 && rows.firstChild) rows.firstChild.tabIndex = 0;
    }
  }

  const incoming = [];
  let frame = null;
  ctx.signal.addEventListener('abort', () => cancelAnimationFrame(frame), { once: true });
  let after = 0;
  try {
    const r = await api.get('/api/v1/traffic' + api.query({ endpoint_id: device, limit: 100 }), { signal: ctx.signal });
    r.messages.forEach(add);
    after = r.messages.length ? r.messages[r.messages.length - 1].id : 0;
  } catch (e) {
    replace(state, e.status === 404 ? errorBox('This controller does not record traffic (no /api/v1/traffic).') : errorBox(e));
    return;
  }
  api.stream('/api/v1/traffic/stream' + api.query({ endpoint_id: device, after: after || '' }), {
    signal: ctx.signal,
    onEvent: (ev) => {
      if (ev.event === 'lost') { rows.prepend(h('tr', { class: 'lost' }, h('td', { colspan: 6 }, `${ev.data.count} messages not shown: the console fell behind.`))); return; }
      if (ev.event !== 'usp' || typeof ev.data !== 'object') return;
      if (paused) { held.push(ev.data); if (held.length > MAX_ROWS) held.shift(); return; }
      // Busy fleets send thousands a second: add them once per frame.
      incoming.push(ev.data);
      if (incoming.length > MAX_ROWS) incoming.shift();
      frame ??= requestAnimationFrame(() => { frame = null; incoming.splice(0).forEach(add); });
    },
    onState: (st) => {
      if (st === 'open') replace(state, badge('live', 'online'));
      else if (st === 'retry') replace(state, badge('reconnecting', 'warn'));
      else replace(state, errorBox(st));
    },
  });
}
