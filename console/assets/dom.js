// Small DOM helpers. Content always goes in as text nodes, never as HTML,
// so nothing a device or user sends can become markup.

// h creates an element: h('a', {href: '#/x', class: 'y', onclick: f}, 'text', child…).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'indeterminate') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// replace empties el and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
// id returns a fresh element id, for label/for pairs.
export function id(prefix = 'f') { uid += 1; return `${prefix}-${uid}`; }

// field is a labelled form control: field('Name', h('input', …), 'hint').
export function field(label, control, hint) {
  if (!control.id) control.id = id();
  const hintEl = hint ? h('small', { class: 'hint', id: control.id + '-hint' }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

// select builds a <select> from [value, label] pairs or plain values.
export function select(attrs, options, current) {
  return h('select', attrs, options.map((o) => {
    const [v, l] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: v === current }, l);
  }));
}

// flash shows a message at the top of the page for a few seconds.
export function flash(message, kind = 'info') {
  const box = document.getElementById('flash');
  const item = h('div', { class: `flash ${kind}` }, message,
    h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
  box.append(item);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => item.remove(), kind === 'error' ? 12000 : 5000);
}

// errorBox is an inline, readable error message.
export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, err?.message || String(err));
}

// badge is a status pill.
export function badge(text, kind = text) {
  return h('span', { class: `badge ${kind}` }, text);
}

export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  if (isNaN(d)) return t;
  return d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

// ago says how long ago t was, briefly.
export function ago(t) {
  if (!t) return '';
  const s = Math.round((Date.now() - new Date(t)) / 1000);
  if (s < 5) return 'just now';
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

// timeEl is a <time> showing a relative time, with the exact one as title.
export function timeEl(t) {
  return h('time', { datetime: t, title: fmtTime(t) }, ago(t));
}

// busy disables a button while f runs.
export async function busy(button, f) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try { return await f(); } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}

// pretty is indented JSON in a <pre>.
export function pretty(v, attrs = {}) {
  return h('pre', { class: 'json', ...attrs }, JSON.stringify(v, null, 2));
}

// bars draws a horizontal bar chart of {label: count}, largest first.
export function bars(counts, { limit = 8, label = 'chart', href } = {}) {
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]).slice(0, limit);
  const max = Math.max(1, ...entries.map((e) => e[1]));
  if (!entries.length) return h('p', { class: 'muted' }, 'None yet.');
  return h('ul', { class: 'bars', 'aria-label': label }, entries.map(([k, v]) => {
    const bar = h('span', { class: 'bar' });
    bar.style.width = `${(100 * v) / max}%`; // CSSOM, which the CSP allows
    const name = k || '(none)';
    return h('li', null, h('span', { class: 'bar-label' }, href ? h('a', { href: href(k) }, name) : name), h('span', { class: 'bar-track' }, bar), h('span', { class: 'bar-value' }, v));
  }));
}

// table builds a table from column headers and rows of cells.
export function table(headers, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' }, h('table', attrs,
    h('thead', null, h('tr', null, headers.map((c) => (c instanceof Node ? c : h('th', { scope: 'col' }, c))))),
    h('tbody', null, rows)));
}

// confirmDialog asks a yes/no question in a modal <dialog> (keyboard:
// Tab between the buttons, Escape says no) and resolves to the answer.
export function confirmDialog(message, yes = 'OK') {
  return new Promise((resolve) => {
    const ok = h('button', { type: 'button', class: 'danger', value: 'yes' }, yes);
    const cancel = h('button', { type: 'button', class: 'secondary', value: 'no' }, 'Cancel');
    const text = h('p', { id: id('dlg') }, message);
    const dlg = h('dialog', { class: 'confirm', 'aria-describedby': text.id }, text, h('div', { class: 'inline end' }, cancel, ok));
    const done = (answer) => { dlg.close(); dlg.remove(); resolve(answer); };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}
