// The data-model explorer: the device's tree, loaded one level at a time
// (GetSupportedDM for the schema, GetInstances for tables, Get for values),
// with Set, Add, Delete and Operate where the role and the model allow.
import * as api from '../api.js';
import { h, replace, errorBox, flash, busy, field, select, id as newID, confirmDialog } from '../dom.js';

// schemaPath turns Device.WiFi.SSID.1. into Device.WiFi.SSID.{i}.
export function schemaPath(p) {
  return p.split('.').map((s) => (/^\d+$/.test(s) ? '{i}' : s)).join('.');
}

export async function explorer(panel, ctx) {
  const start = ctx.params.get('path') || 'Device.';
  const jump = h('input', { type: 'text', name: 'path', value: start, spellcheck: 'false', autocomplete: 'off' });
  const form = h('form', { class: 'inline' }, field('Object path', jump, 'An object path ending in a dot, e.g. Device.WiFi.SSID.1.'), h('button', { type: 'submit', class: 'small' }, 'Open'));
  const tree = h('ul', { class: 'tree', 'aria-label': 'Data model' });
  panel.append(form, tree, quickGet(ctx));
  const open = (p) => {
    if (!p.endsWith('.')) p += '.';
    replace(tree, objectNode(ctx, p, p, true));
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); open(jump.value.trim()); });
  open(start);
}

// quickGet sends one Get for any paths, search paths included
// (Device.WiFi.SSID.*.SSID, Device.IP.Interface.[Enable==true].), and lists
// what the device answers.
function quickGet(ctx) {
  const paths = h('input', { type: 'text', name: 'get-paths', spellcheck: 'false', autocomplete: 'off', placeholder: 'Device.WiFi.SSID.*.SSID' });
  const go = h('button', { type: 'submit', class: 'small' }, 'Get');
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card stack quick-get' }, h('h2', null, 'Get'),
    h('div', { class: 'inline' }, field('Paths', paths, 'Comma-separated; search paths and wildcards allowed.'), go), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const list = paths.value.split(',').map((p) => p.trim()).filter(Boolean);
    if (!list.length) return;
    try {
      const r = await busy(go, () => api.post(api.dev(ctx.id, 'get'), { paths: list }, { signal: ctx.signal }));
      const errs = r.results.filter((x) => x.error).map((x) => errorBox(`${x.requested_path}: ${x.error.name} (${x.error.code}): ${x.error.message}`));
      const vals = Object.entries(r.values || {}).sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }));
      replace(out, errs, vals.length ? h('div', { class: 'table-wrap' }, h('table', { 'aria-label': 'Get results' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Parameter'), h('th', { scope: 'col' }, 'Value'))),
        h('tbody', null, vals.map(([k, v]) => h('tr', null, h('td', null, h('code', null, k)), h('td', { class: 'mono' }, v)))))) : errs.length ? null : h('p', { class: 'muted' }, 'No parameters matched.'));
    } catch (e2) {
      replace(out, errorBox(e2));
    }
  });
  return form;
}

// objectNode is one object instance (or single-instance object) of the tree.
function objectNode(ctx, path, label, expand, onDelete) {
  const body = h('div', { class: 'node-body', hidden: true });
  const toggle = h('button', { type: 'button', class: 'toggle', 'aria-expanded': 'false', dataset: { path } }, label);
  // Every expansion loads afresh: values change on the device.
  const load = async () => {
    if (!body.firstChild) body.append(h('p', { class: 'muted' }, 'Loading…'));
    body.setAttribute('aria-busy', 'true');
    try {
      await fillObject(ctx, body, path);
    } catch (e) {
      replace(body, errorBox(e));
    } finally {
      body.removeAttribute('aria-busy');
    }
  };
  toggle.addEventListener('click', () => {
    const on = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(on));
    body.hidden = !on;
    if (on) load();
  });
  const actions = onDelete ? h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete ${path}`, onclick: (e) => onDelete(e.target) }, 'Delete') : null;
  const li = h('li', { class: 'node' }, h('div', { class: 'node-head' }, toggle, actions), body);
  if (expand) toggle.click();
  return li;
}

async function fillObject(ctx, body, path) {
  const schema = schemaPath(path);
  const sdm = await api.post(api.dev(ctx.id, 'supported-dm'), {
    paths: [schema], first_level_only: true, return_params: true, return_commands: true, return_events: true, return_unique_key_sets: true,
  }, { signal: ctx.signal });
  const res = sdm.results[0];
  if (res.error) throw new Error(`${res.error.name} (${res.error.code}): ${res.error.message}`);
  const self = res.objects.find((o) => o.path === schema) || { params: [], commands: [], events: [] };
  const children = res.objects.filter((o) => o !== self && o.path.startsWith(schema));
  let values = {};
  if (self.params.length) {
    const g = await api.post(api.dev(ctx.id, 'get'), { paths: [path], max_depth: 1 }, { signal: ctx.signal });
    values = g.values || {};
  }
  const parts = [];
  if (self.params.length) parts.push(paramsTable(ctx, path, self.params, values));
  if (self.commands.length) parts.push(h('div', { class: 'commands' }, h('h3', null, 'Commands'), self.commands.map((c) => commandItem(ctx, path, c))));
  if (self.events.length) parts.push(h('p', { class: 'muted' }, 'Events: ', self.events.map((e) => `${e.name}${e.args.length ? ' (' + e.args.join(', ') + ')' : ''}`).join(', ')));
  const kids = children.map((o) => {
    const rel = o.path.slice(schema.length);
    if (o.multi_instance) {
      const table = path + rel.replace(/\{i\}\.$/, '');
      return tableNode(ctx, table, o);
    }
    return objectNode(ctx, path + rel, rel);
  });
  if (kids.length) parts.push(h('ul', { class: 'tree' }, kids));
  if (!parts.length) parts.push(h('p', { class: 'muted' }, 'Empty.'));
  replace(body, parts);
}

// tableNode is a multi-instance object: its instances, and Add.
function tableNode(ctx, table, obj) {
  const rel = table.split('.').slice(-2).join('.') ;
  const body = h('div', { class: 'node-body', hidden: true });
  const toggle = h('button', { type: 'button', class: 'toggle', 'aria-expanded': 'false', dataset: { path: table } }, `${rel}{i}.`);
  const access = h('span', { class: 'muted small' }, ` table, ${obj.access.replace('_', ' ')}`);
  const canAdd = ctx.can('operate') && (obj.access === 'add_delete' || obj.access === 'add_only');
  const canDelete = ctx.can('operate') && (obj.access === 'add_delete' || obj.access === 'delete_only');
  const load = async () => {
    replace(body, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const r = await api.post(api.dev(ctx.id, 'instances'), { paths: [table], first_level_only: true }, { signal: ctx.signal });
      const res = r.results[0];
      if (res.error) throw new Error(`${res.error.name} (${res.error.code}): ${res.error.message}`);
      const items = res.instances.map((inst) => {
        const keys = Object.entries(inst.unique_keys || {}).map(([k, v]) => `${k}=${v}`).join(', ');
        const label = inst.path.slice(table.length) + (keys ? `  (${keys})` : '');
        return objectNode(ctx, inst.path, label, false, canDelete ? (button) => remove(inst.path, button) : null);
      });
      const add = canAdd ? h('button', { type: 'button', class: 'small', onclick: (e) => addInstance(e.target) }, `Add instance to ${table}`) : null;
      replace(body, items.length ? h('ul', { class: 'tree' }, items) : h('p', { class: 'muted' }, 'No instances.'), add);
    } catch (e) {
      replace(body, errorBox(e));
    }
  };
  const addInstance = async (button) => {
    try {
      const r = await busy(button, () => api.post(api.dev(ctx.id, 'add'), { objects: [{ path: table }] }));
      const res = r.results[0];
      if (res.error) throw new Error(`${res.error.name}: ${res.error.message}`);
      flash(`Created ${res.instantiated_path}`);
      await load();
    } catch (e) { flash(e.message, 'error'); }
  };
  const remove = async (path, button) => {
    if (!(await confirmDialog(`Delete ${path} on ${ctx.id}?`, 'Delete'))) return;
    try {
      const r = await busy(button, () => api.post(api.dev(ctx.id, 'delete'), { paths: [path] }));
      const res = r.results[0];
      if (res.error) throw new Error(`${res.error.name}: ${res.error.message}`);
      flash(`Deleted ${path}`);
      await load();
    } catch (e) { flash(e.message, 'error'); }
  };
  toggle.addEventListener('click', () => {
    const on = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(on));
    body.hidden = !on;
    if (on) load();
  });
  return h('li', { class: 'node' }, h('div', { class: 'node-head' }, toggle, access), body);
}

function paramsTable(ctx, path, params, values) {
  const rows = params.map((p) => paramRow(ctx, path, p, values[path + p.name]));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'params' },
    h('thead', null, h('tr', null, ['Parameter', 'Value', 'Type', 'Access'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, rows)));
}

const INT_TYPES = { int: /^-?\d+$/, long: /^-?\d+$/, unsignedInt: /^\d+$/, unsignedLong: /^\d+$/, decimal: /^-?\d+(\.\d+)?$/ };

// validate checks a value against its TR-106 type before it is sent.
export function validate(type, v) {
  if (INT_TYPES[type] && !INT_TYPES[type].test(v)) return `must be ${type === 'decimal' ? 'a decimal number' : type.startsWith('unsigned') ? 'a whole number, 0 or more' : 'a whole number'}`;
  if (type === 'unsignedInt' && Number(v) > 4294967295) return 'must be at most 4294967295';
  if (type === 'int' && (Number(v) > 2147483647 || Number(v) < -2147483648)) return 'is out of range for int';
  if (type === 'boolean' && !['true', 'false', '0', '1'].includes(v)) return 'must be true or false';
  if (type === 'dateTime' && v && isNaN(Date.parse(v))) return 'must be an ISO 8601 date and time';
  if (type === 'hexBinary' && !/^([0-9a-fA-F]{2})*$/.test(v)) return 'must be hexadecimal, two digits a byte';
  return '';
}

function paramRow(ctx, path, p, value) {
  const full = path + p.name;
  const writable = p.access !== 'read_only' && ctx.can('operate');
  const cell = h('td', { class: 'value' });
  const show = (v) => replace(cell, h('span', { class: 'pvalue', dataset: { param: full } }, v ?? ''),
    writable ? h('button', { type: 'button', class: 'link small', 'aria-label': `Edit ${p.name}`, onclick: edit }, 'Edit') : null);
  function edit() {
    const input = p.type === 'boolean'
      ? select({ name: p.name }, ['true', 'false'], value === '1' ? 'true' : value === '0' ? 'false' : value)
      : h('input', { type: 'text', name: p.name, value: value ?? '', spellcheck: 'false', inputmode: INT_TYPES[p.type] ? 'numeric' : null, 'aria-label': `New value of ${p.name}` });
    if (p.type === 'boolean') input.setAttribute('aria-label', `New value of ${p.name}`);
    const errID = newID('err');
    const err = h('p', { class: 'field-error', id: errID, role: 'alert', hidden: true });
    input.setAttribute('aria-describedby', errID);
    const save = h('button', { type: 'submit', class: 'small' }, 'Set');
    const form = h('form', { class: 'set', dataset: { param: full } }, input, save,
      h('button', { type: 'button', class: 'secondary small', onclick: () => show(value) }, 'Cancel'), err);
    const fail = (msg) => { err.textContent = msg; err.hidden = false; input.setAttribute('aria-invalid', 'true'); input.focus(); };
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const v = input.value;
      const bad = validate(p.type, v);
      if (bad) { fail(`${p.name} ${bad}.`); return; }
      try {
        const r = await busy(save, () => api.post(api.dev(ctx.id, 'set'), { objects: [{ path, params: { [p.name]: v }, required: [p.name] }] }));
        const res = r.results[0];
        const pe = [...(res.failed || []), ...(res.updated || [])].flatMap((x) => x.param_errors || []);
        if (res.error || pe.length) { fail(describe(res.error, pe, p.name)); return; }
        const g = await api.post(api.dev(ctx.id, 'get'), { paths: [full] });
        value = g.values?.[full] ?? v;
        show(value);
        flash(`${full} is now ${value}`);
      } catch (e2) {
        if (e2.problem?.param_errors?.length || e2.problem?.usp_code) fail(describe({ code: e2.problem.usp_code, name: e2.problem.usp_name, message: e2.problem.usp_message || e2.problem.detail }, e2.problem.param_errors || [], p.name));
        else fail(e2.message);
      }
    });
    replace(cell, form);
    input.focus();
  }
  show(value);
  return h('tr', null, h('th', { scope: 'row' }, h('code', null, p.name)), cell, h('td', null, p.type), h('td', null, p.access.replace('_', ' ')));
}

// describe says what the device refused, preferring the error about this parameter.
function describe(err, paramErrors, name) {
  const mine = paramErrors.find((e) => e.param === name) || paramErrors[0];
  const e = mine || err || {};
  return `The device refused: ${e.message || 'no reason given'}${e.name ? ` (${e.name}${e.code ? ' ' + e.code : ''})` : ''}`;
}

// commandItem is a command with a form for its input arguments. Async
// commands are followed to completion through the device's events.
function commandItem(ctx, path, c) {
  const full = path + c.name;
  const out = h('div', { class: 'op-result', 'aria-live': 'polite' });
  const inputs = c.inputs.map((name) => h('input', { type: 'text', name, spellcheck: 'false' }));
  const run = h('button', { type: 'submit', class: 'small', disabled: !ctx.can('operate') }, `Run ${c.name}`);
  const form = h('form', { class: 'command', dataset: { command: full } },
    h('div', { class: 'command-head' }, h('code', null, c.name), h('span', { class: 'muted small' }, ` ${c.type}`), run),
    inputs.length ? h('div', { class: 'inline' }, inputs.map((input) => field(input.name, input))) : null,
    c.outputs.length ? h('p', { class: 'muted small' }, 'Outputs: ', c.outputs.join(', ')) : null,
    out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (/FactoryReset/.test(c.name) && !(await confirmDialog(`${c.name} on ${ctx.id}? It erases the device's configuration.`, 'Reset'))) return;
    const args = {};
    inputs.forEach((i) => { if (i.value !== '') args[i.name] = i.value; });
    const key = 'console-' + Math.random().toString(36).slice(2, 10);
    replace(out, h('p', { class: 'muted' }, 'Sending…'));
    let done = null;
    const finished = new Promise((resolve) => { done = resolve; });
    const off = ctx.onEvent((ev) => {
      if (ev.type === 'operation_complete' && ev.data?.command_key === key) done(ev);
    });
    try {
      const r = await busy(run, () => api.post(api.dev(ctx.id, 'operate'), { command: full, command_key: key, input_args: args }));
      const res = r.results[0] || {};
      if (res.error) { replace(out, errorBox(`${res.error.name} (${res.error.code}): ${res.error.message}`)); return; }
      if (res.status === 'started') {
        replace(out, h('p', null, 'Started', res.request_path ? ` as ${res.request_path}` : '', '; waiting for the device to report completion…'));
        const ev = await Promise.race([finished, new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null)))]);
        if (!ev) return;
        const outputs = Object.entries(ev.data).filter(([k]) => k.startsWith('output.')).map(([k, v]) => [k.slice(7), v]);
        replace(out, ev.data.err_code
          ? errorBox(`Failed: ${ev.data.err_msg} (${ev.data.err_code})`)
          : h('div', null, h('p', { class: 'ok' }, 'Completed.'), outputKV(outputs)));
        return;
      }
      replace(out, h('div', null, h('p', { class: res.status === 'failed' ? 'error' : 'ok' }, res.status === 'completed' ? 'Completed.' : res.status), outputKV(Object.entries(res.output || {}))));
    } catch (e2) {
      replace(out, errorBox(e2));
    } finally {
      off();
    }
  });
  return form;
}

function outputKV(pairs) {
  if (!pairs.length) return null;
  return h('dl', { class: 'props' }, pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}
