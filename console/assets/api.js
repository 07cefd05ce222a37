// The REST API client: the bearer token, problem+json errors, and
// Server-Sent Events over fetch() (EventSource cannot send a header).

const TOKEN_KEY = 'cuttle.token';

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
export function setToken(t) { sessionStorage.setItem(TOKEN_KEY, t); }
export function clearToken() { sessionStorage.removeItem(TOKEN_KEY); }

// ApiError is a failed request, built from the API's problem+json body.
export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem || {};
    let msg = p.title || `HTTP ${status}`;
    if (p.detail) msg += `: ${p.detail}`;
    if (Array.isArray(p.errors) && p.errors.length) {
      msg += ' (' + p.errors.map((e) => `${e.field}: ${e.message}`).join('; ') + ')';
    }
    super(msg);
    this.status = status;
    this.problem = p;
  }
}

// listeners of 401s, so the app can send the user back to sign-in.
const unauthorized = new Set();
export function onUnauthorized(f) { unauthorized.add(f); }

// request sends one API call and returns the parsed JSON (or null).
export async function request(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const t = opts.token ?? token();
  if (t) headers.Authorization = `Bearer ${t}`;
  const init = { method, headers, signal: opts.signal, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { title: 'The controller cannot be reached', detail: e.message });
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { title: text.slice(0, 200) }; }
  }
  if (!resp.ok) {
    if (resp.status === 401 && !opts.token) unauthorized.forEach((f) => f());
    throw new ApiError(resp.status, data);
  }
  return data;
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body ?? {}, opts);
export const patch = (path, body, opts) => request('PATCH', path, body, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

// dev builds a device route: /api/v1/devices/<id>/<rest>.
export function dev(id, rest = '') {
  return `/api/v1/devices/${encodeURIComponent(id)}${rest ? '/' + rest : ''}`;
}

// query builds "?a=b&…" from the non-empty fields of o.
export function query(o) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// whoami says who the token t belongs to and what it may do:
// {token_id, name, role, actions, expires_at}.
export function whoami(t) {
  return get('/api/v1/whoami', { token: t });
}

// stream reads Server-Sent Events from path until signal aborts,
// reconnecting with Last-Event-ID after errors. onEvent gets
// {event, id, data} with data parsed as JSON when it is JSON. onState
// gets 'open', 'retry' or an ApiError that ends the stream (4xx).
export async function stream(path, { signal, onEvent, onState = () => {} }) {
  let lastID = '';
  let delay = 500;
  while (!signal.aborted) {
    try {
      const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${token()}` };
      if (lastID) headers['Last-Event-ID'] = lastID;
      const resp = await fetch(path, { headers, signal, cache: 'no-store' });
      if (!resp.ok) {
        let problem = null;
        try { problem = await resp.json(); } catch { /* not JSON */ }
        const err = new ApiError(resp.status, problem);
        if (resp.status === 401) unauthorized.forEach((f) => f());
        if (resp.status >= 400 && resp.status < 500) { onState(err); return; }
        throw err;
      }
      onState('open');
      delay = 500;
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let m;
        while ((m = /\r?\n\r?\n/.exec(buf))) {
          const block = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          const ev = parseEvent(block);
          if (!ev) continue;
          if (ev.id) lastID = ev.id;
          onEvent(ev);
        }
      }
    } catch (e) {
      if (signal.aborted || e.name === 'AbortError') return;
    }
    if (signal.aborted) return;
    onState('retry');
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 10000);
  }
}

function parseEvent(block) {
  let event = 'message', id = '', data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return null;
  const text = data.join('\n');
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* plain text */ }
  return { event, id, data: parsed };
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
