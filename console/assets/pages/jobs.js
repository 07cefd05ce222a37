// Bulk jobs: the list, a form to create one (an operation plus a device
// selector or a list of devices), and a job's live progress and results.
import * as api from '../api.js';
import { h, replace, badge, field, select, errorBox, flash, busy, table, timeEl, fmtTime, pretty, confirmDialog } from '../dom.js';

const OPERATIONS = ['get', 'set', 'add', 'delete', 'operate', 'instances', 'supported-protocol'];

export async function render(main, ctx) {
  if (ctx.view === 'job') return jobPage(main, ctx, ctx.parts[0]);
  if (ctx.parts[0] === 'new') return newJob(main, ctx);
  return list(main, ctx);
}

async function list(main, ctx) {
  const state = select({ name: 'state' }, [['', 'Any'], 'pending', 'running', 'completed', 'failed', 'canceled'], ctx.params.get('state') || '');
  state.addEventListener('change', () => ctx.navigate('#/jobs' + api.query({ state: state.value })));
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Jobs'),
    ctx.can('operate') ? h('a', { class: 'button', href: '#/jobs/new' }, 'New job') : null),
  h('form', { class: 'filters' }, field('State', state)));
  // While jobs run, the table shows their progress: it reloads every 3 s.
  const box = h('div');
  main.append(box);
  const load = async () => {
    const page = await api.get('/api/v1/jobs' + api.query({ state: state.value, limit: 100, cursor: ctx.params.get('cursor') }), { signal: ctx.signal });
    const rows = page.jobs.map((j) => h('tr', null,
      h('td', null, h('a', { href: `#/job/${encodeURIComponent(j.id)}` }, j.spec.name || j.id)),
      h('td', null, j.spec.operation), h('td', null, badge(j.state)), h('td', null, progress(j)),
      h('td', null, `${j.succeeded} ok · ${j.failed} failed · ${j.not_reached} not reached`),
      h('td', null, timeEl(j.created)), h('td', null, j.created_by || '')));
    replace(box, rows.length ? table(['Job', 'Operation', 'State', 'Progress', 'Results', 'Created', 'By'], rows, { 'aria-label': 'Jobs' }) : h('p', { class: 'muted' }, 'No jobs yet.'),
      page.next ? h('a', { class: 'button secondary small', href: '#/jobs' + api.query({ state: state.value, cursor: page.next }) }, 'More →') : null);
    return page.jobs.some((j) => j.state === 'pending' || j.state === 'running');
  };
  if (!(await load())) return;
  (async () => {
    while (!ctx.signal.aborted) {
      await api.sleep(3000, ctx.signal);
      if (ctx.signal.aborted) return;
      try { if (!(await load())) return; } catch { /* try again in 3 s */ }
    }
  })();
}

function progress(j) {
  return h('span', { class: 'progress' }, h('progress', { max: Math.max(j.total, 1), value: j.done, 'aria-label': `${j.done} of ${j.total} devices done` }), ` ${j.done}/${j.total}`);
}

// lines splits a textarea into its non-empty lines.
const lines = (t) => t.split('\n').map((s) => s.trim()).filter(Boolean);

// keyValues parses "Name=value" lines.
function keyValues(t, what) {
  const o = {};
  for (const l of lines(t)) {
    const i = l.indexOf('=');
    if (i < 1) throw new Error(`${what}: "${l}" is not name=value`);
    o[l.slice(0, i).trim()] = l.slice(i + 1);
  }
  return o;
}

async function newJob(main, ctx) {
  const p = ctx.params;
  let devices = [];
  if (p.get('devices') === 'selected') {
    try { devices = JSON.parse(sessionStorage.getItem('cuttle.jobDevices') || '[]'); } catch { devices = []; }
  }
  const name = h('input', { type: 'text', name: 'name', maxlength: 200 });
  const op = select({ name: 'operation' }, OPERATIONS, p.get('operation') || 'get');
  const paths = h('textarea', { name: 'paths', rows: 3, spellcheck: 'false' }, p.get('paths') || 'Device.DeviceInfo.SoftwareVersion');
  const objPath = h('input', { type: 'text', name: 'object', spellcheck: 'false', placeholder: 'Device.WiFi.SSID.1.' });
  const params = h('textarea', { name: 'params', rows: 3, spellcheck: 'false', placeholder: 'SSID=guest' });
  const command = h('input', { type: 'text', name: 'command', spellcheck: 'false', value: 'Device.Reboot()' });
  const args = h('textarea', { name: 'args', rows: 2, spellcheck: 'false', placeholder: 'Name=value, one a line' });
  const completion = h('input', { type: 'text', name: 'completion_timeout', spellcheck: 'false', placeholder: '10m' });
  // One field per control (a control can be in one place only); set and
  // add share the object path, whose label says which it is.
  const pathsField = field('Paths', paths, 'One a line.');
  const objField = field('Object path', objPath, 'e.g. Device.WiFi.SSID.1.');
  const paramsField = field('Parameters', params, 'Name=value, one a line.');
  const opFields = {
    get: [pathsField], instances: [pathsField], delete: [pathsField],
    set: [objField, paramsField], add: [objField, paramsField],
    operate: [field('Command', command), field('Input arguments', args),
      field('Completion timeout', completion, 'How long an asynchronous command may take to report completion; default 10m.')],
    'supported-protocol': [],
  };
  const opBox = h('div', { class: 'stack' });
  const drawOp = () => {
    const add = op.value === 'add';
    objField.querySelector('label').textContent = add ? 'Table path' : 'Object path';
    objField.querySelector('.hint').textContent = add ? 'e.g. Device.LocalAgent.Subscription.' : 'e.g. Device.WiFi.SSID.1.';
    replace(opBox, opFields[op.value]);
  };
  op.addEventListener('change', drawOp);
  drawOp();

  const sel = {};
  for (const k of ['status', 'model', 'manufacturer', 'software_version', 'labels', 'q']) {
    sel[k] = k === 'status' ? select({ name: k }, [['', 'Any'], 'online', 'offline'], p.get(k) || '') : h('input', { type: 'text', name: k, value: p.get(k) || '', spellcheck: 'false' });
  }
  const targets = devices.length
    ? h('fieldset', null, h('legend', null, `Devices (${devices.length} selected)`), h('p', { class: 'mono small' }, devices.slice(0, 20).join(', '), devices.length > 20 ? ` and ${devices.length - 20} more` : ''),
      h('a', { href: '#/jobs/new' }, 'Choose devices with a filter instead'))
    : h('fieldset', null, h('legend', null, 'Devices matching'), h('div', { class: 'inline' },
      field('Status', sel.status), field('Model', sel.model), field('Manufacturer', sel.manufacturer),
      field('Software version', sel.software_version), field('Labels', sel.labels, 'site=north,tier!=gold'), field('Text', sel.q)));
  const concurrency = h('input', { type: 'number', name: 'concurrency', min: 1, max: 1000, value: 50 });
  const timeout = h('input', { type: 'text', name: 'timeout', value: '30s' });
  const onlineOnly = h('input', { type: 'checkbox', name: 'online_only', checked: true });
  const submit = h('button', { type: 'submit', id: 'create-job' }, 'Start job');
  const msg = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card stack', 'aria-labelledby': 'newjob' },
    field('Name', name), field('Operation', op), opBox, targets,
    h('div', { class: 'inline' }, field('Concurrency', concurrency), field('Timeout per device', timeout), h('label', { class: 'check' }, onlineOnly, ' Skip offline devices')),
    msg, submit);
  main.append(h('h1', { id: 'newjob' }, 'New bulk job'), form);
  if (!ctx.can('operate')) { submit.disabled = true; msg.append(errorBox(`The ${ctx.me.role} role may not start jobs.`)); }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(msg);
    try {
      const spec = { operation: op.value, concurrency: Number(concurrency.value) || 50, timeout: timeout.value.trim() || '30s', online_only: onlineOnly.checked };
      if (name.value.trim()) spec.name = name.value.trim();
      switch (op.value) {
        case 'get': case 'instances': case 'delete': spec.request = { paths: lines(paths.value) }; break;
        case 'set': case 'add': spec.request = { objects: [{ path: objPath.value.trim(), params: keyValues(params.value, 'Parameters') }] }; break;
        case 'operate':
          spec.request = { command: command.value.trim(), input_args: keyValues(args.value, 'Input arguments') };
          if (completion.value.trim()) spec.request.completion_timeout = completion.value.trim();
          break;
        default: spec.request = {};
      }
      if (devices.length) spec.devices = devices;
      else {
        const s = {};
        for (const [k, el] of Object.entries(sel)) if (el.value.trim()) s[k] = el.value.trim();
        spec.selector = s;
      }
      const job = await busy(submit, () => api.post('/api/v1/jobs', spec));
      sessionStorage.removeItem('cuttle.jobDevices');
      const { selected } = await import('./devices.js');
      selected.clear();
      flash(`Job ${job.id} created for ${job.total} devices.`);
      ctx.navigate(`#/job/${encodeURIComponent(job.id)}`);
    } catch (e2) {
      replace(msg, errorBox(e2));
    }
  });
}

async function jobPage(main, ctx, jobID) {
  let job = await api.get(`/api/v1/jobs/${encodeURIComponent(jobID)}`, { signal: ctx.signal });
  const summary = h('div', { 'aria-live': 'polite' });
  const cancel = h('button', { type: 'button', class: 'danger', id: 'cancel-job' }, 'Cancel job');
  const results = h('div');
  const status = select({ name: 'status' }, [['', 'All'], 'ok', 'usp_error', 'bad_response', 'timeout', 'unreachable', 'canceled', 'skipped', 'error'], '');
  main.append(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/jobs' }, 'Jobs'), ' / '),
    h('div', { class: 'page-head' }, h('h1', null, job.spec.name || `Job ${job.id}`), ctx.can('operate') ? cancel : null),
    summary, h('h2', null, 'Per-device results'), h('form', { class: 'filters' }, field('Result', status)), results,
    h('details', null, h('summary', null, 'Job specification'), pretty(job.spec)));
  const draw = () => {
    cancel.hidden = ['completed', 'failed', 'canceled'].includes(job.state);
    replace(summary, h('div', { class: 'cards' },
      h('div', { class: 'stat', id: 'job-state' }, h('span', { class: 'card-value' }, badge(job.state)), h('span', { class: 'card-label' }, job.cancel_requested && job.state === 'running' ? 'canceling' : 'state')),
      h('div', { class: 'stat' }, h('span', { class: 'card-value' }, progress(job)), h('span', { class: 'card-label' }, 'done')),
      h('div', { class: 'stat online' }, h('span', { class: 'card-value' }, job.succeeded), h('span', { class: 'card-label' }, 'succeeded')),
      h('div', { class: 'stat offline' }, h('span', { class: 'card-value' }, job.failed), h('span', { class: 'card-label' }, 'failed')),
      h('div', { class: 'stat' }, h('span', { class: 'card-value' }, job.not_reached), h('span', { class: 'card-label' }, 'not reached'))),
    h('p', { class: 'muted' }, `${job.spec.operation} · created ${fmtTime(job.created)}`, job.created_by ? ` by ${job.created_by}` : '',
      job.finished ? ` · finished ${fmtTime(job.finished)}` : '', job.runner ? ` · runner ${job.runner}` : ''),
    job.error ? errorBox(job.error) : null);
  };
  draw();
  cancel.addEventListener('click', async () => {
    if (!(await confirmDialog('Cancel this job? Devices already done keep their results.', 'Cancel job'))) return;
    try { job = await busy(cancel, () => api.post(`/api/v1/jobs/${encodeURIComponent(jobID)}/cancel`)); draw(); } catch (e) { flash(e.message, 'error'); }
  });

  let cursor = '';
  const loadResults = async (more) => {
    if (!more) cursor = '';
    const r = await api.get(`/api/v1/jobs/${encodeURIComponent(jobID)}/results` + api.query({ status: status.value, limit: 100, cursor }), { signal: ctx.signal });
    const rows = r.results.map((x) => h('tr', null,
      h('td', null, h('a', { href: `#/device/${encodeURIComponent(x.endpoint_id)}` }, x.endpoint_id)),
      h('td', null, badge(x.status, x.status === 'ok' ? 'online' : 'offline')),
      h('td', null, x.error ? `${x.error.message}${x.error.code ? ` (${x.error.name || ''} ${x.error.code})` : ''}` : ''),
      h('td', null, x.response ? h('details', null, h('summary', null, 'response'), pretty(x.response)) : x.truncated ? 'too large to keep' : ''),
      h('td', null, fmtTime(x.finished))));
    const next = r.next ? h('button', { type: 'button', class: 'secondary small', onclick: () => { cursor = r.next; loadResults(true); } }, 'More results') : null;
    if (more) { results.querySelector('tbody')?.append(...rows); results.querySelector('.more')?.remove(); if (next) results.append(h('div', { class: 'more' }, next)); return; }
    replace(results, rows.length ? table(['Device', 'Result', 'Error', 'Response', 'Finished'], rows, { 'aria-label': 'Results' }) : h('p', { class: 'muted' }, 'No results yet.'), next ? h('div', { class: 'more' }, next) : null);
  };
  status.addEventListener('change', () => loadResults(false).catch((e) => flash(e.message, 'error')));
  await loadResults(false);

  if (['completed', 'failed', 'canceled'].includes(job.state)) return;
  let lastDraw = 0;
  // The stream ends when the job does; stop then rather than reconnect.
  const stop = new AbortController();
  ctx.signal.addEventListener('abort', () => stop.abort(), { once: true });
  api.stream(`/api/v1/jobs/${encodeURIComponent(jobID)}/events`, {
    signal: stop.signal,
    onEvent: (ev) => {
      if (ev.event !== 'job' || typeof ev.data !== 'object') return;
      job = ev.data;
      draw();
      const final = ['completed', 'failed', 'canceled'].includes(job.state);
      if (final || Date.now() - lastDraw > 2000) { lastDraw = Date.now(); loadResults(false).catch(() => {}); }
      if (final) stop.abort();
    },
  });
}
