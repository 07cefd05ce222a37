// The dashboard: fleet figures and recent events, live over SSE.
import * as api from '../api.js';
import { h, replace, bars, badge, timeEl, errorBox } from '../dom.js';

export async function render(main, ctx) {
  const cards = h('div', { class: 'cards', 'aria-live': 'polite' });
  const models = h('div');
  const versions = h('div');
  const notif = h('div');
  const events = h('ol', { class: 'timeline', 'aria-label': 'Recent events' });
  const live = h('span', { class: 'live' }, 'connecting…');
  main.append(
    h('div', { class: 'page-head' }, h('h1', null, 'Dashboard'), live),
    cards,
    h('div', { class: 'grid2' },
      h('section', { class: 'card' }, h('h2', null, 'Devices by model'), models),
      h('section', { class: 'card' }, h('h2', null, 'Devices by software version'), versions),
      h('section', { class: 'card' }, h('h2', null, 'Notifications per minute'), notif),
      h('section', { class: 'card' }, h('h2', null, 'Recent events'), events)));

  const show = (s) => {
    replace(cards,
      card('Online', s.online, 'online', '#/devices?status=online'),
      card('Offline', s.offline, 'offline', '#/devices?status=offline'),
      card('Devices', s.total, '', '#/devices'),
      card('Notifications / min', s.notifications_per_minute),
      card('Broker connections', s.broker_connections),
      card('Pending requests', s.pending_requests));
    replace(models, bars(s.by_model, { label: 'Devices by model', href: (m) => '#/devices' + api.query({ model: m }) }));
    replace(versions, bars(s.by_software_version, { label: 'Devices by software version', href: (v) => '#/devices' + api.query({ software_version: v }) }));
    replace(notif, sparkline(s.notifications_by_minute || []));
  };
  show(await api.get('/api/v1/stats', { signal: ctx.signal }));

  api.stream('/api/v1/stats/stream', {
    signal: ctx.signal,
    onEvent: (ev) => { if (ev.event === 'stats') show(ev.data); },
    onState: (st) => {
      if (st === 'open') replace(live, badge('live', 'online'));
      else if (st === 'retry') replace(live, badge('reconnecting', 'warn'));
      else replace(live, errorBox(st));
    },
  });

  const recent = await api.get('/api/v1/events' + api.query({ order: 'desc', limit: 15 }), { signal: ctx.signal });
  replace(events, recent.events.map(eventItem));
  const after = recent.events[0]?.id;
  // A large fleet sends many events a second: keep the newest and draw
  // them at most once a second.
  let pending = [];
  let timer = null;
  const flush = () => {
    timer = null;
    events.prepend(...pending.slice(-15).map(eventItem).reverse());
    pending = [];
    while (events.children.length > 15) events.lastChild.remove();
  };
  api.stream('/api/v1/events/stream' + api.query({ after }), {
    signal: ctx.signal,
    onEvent: (ev) => {
      if (!ev.data || typeof ev.data !== 'object') return;
      pending.push(ev.data);
      if (pending.length > 15) pending.shift();
      timer ??= setTimeout(flush, 1000);
    },
  });
  ctx.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
}

function card(label, value, kind = '', href) {
  const body = [h('span', { class: 'card-value' }, value ?? 0), h('span', { class: 'card-label' }, label)];
  return href ? h('a', { class: `stat ${kind}`, href, dataset: { stat: label } }, body) : h('div', { class: `stat ${kind}`, dataset: { stat: label } }, body);
}

// eventItem is one line of an event timeline.
export function eventItem(e) {
  const detail = e.path || Object.entries(e.data || {}).slice(0, 2).map(([k, v]) => `${k}=${v}`).join(' ');
  return h('li', null, badge(e.type, e.type), ' ',
    h('a', { href: `#/device/${encodeURIComponent(e.endpoint_id)}` }, e.endpoint_id), ' ',
    h('span', { class: 'muted' }, detail), ' ', timeEl(e.time));
}

// sparkline draws per-minute counts as SVG bars (attributes, not styles).
function sparkline(points) {
  const W = 300, H = 60, n = Math.max(points.length, 1);
  const max = Math.max(1, ...points.map((p) => p.count));
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'spark');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const last = points[points.length - 1];
  svg.setAttribute('aria-label', `Notifications per minute over the last ${points.length} minutes; latest ${last ? last.count : 0}`);
  points.forEach((p, i) => {
    const r = document.createElementNS(ns, 'rect');
    const bh = Math.max(1, (H - 2) * (p.count / max));
    r.setAttribute('x', (i * W) / n + 1);
    r.setAttribute('y', H - bh);
    r.setAttribute('width', Math.max(1, W / n - 2));
    r.setAttribute('height', bh);
    const title = document.createElementNS(ns, 'title');
    title.textContent = `${new Date(p.minute).toLocaleTimeString()}: ${p.count}`;
    r.append(title);
    svg.append(r);
  });
  const peak = Math.max(0, ...points.map((p) => p.count));
  return h('div', null, svg, h('div', { class: 'spark-axis muted small' }, h('span', null, `${points.length} min ago`), h('span', null, `peak ${peak} per minute`), h('span', null, 'now')));
}
