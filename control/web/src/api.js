// api.js: control's HTTP API as the page uses it (docs/browser.md, "What the page calls").
// Every call carries the signed-in user's Firebase ID token when there is one.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let idTokenSource = null;   // async () => token | null

// With Firebase sign-in, `source` returns a fresh ID token (the SDK refreshes it).
export function setIdTokenSource(source) {
  idTokenSource = source;
}

async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = idTokenSource ? await idTokenSource() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, `control unreachable (${e.message})`);
  }
  const type = res.headers.get('content-type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const msg = data && typeof data === 'object' && data.error ? data.error : `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return data;
}

// GET /api/config; a control without it (404) is the embedded default: no sign-in, no
// templates.
export async function getConfig() {
  try {
    const cfg = await call('GET', '/api/config');
    return {
      templates: Array.isArray(cfg?.templates) ? cfg.templates : [],
      auth: cfg?.auth && typeof cfg.auth === 'object' ? cfg.auth : { mode: 'local' },
    };
  } catch (e) {
    if (e.status === 404) return { templates: [], auth: { mode: 'local' } };
    throw e;
  }
}

export const listSessions = () => call('GET', '/api/sessions').then((r) => r.sessions || []);
export const getSession = (id) => call('GET', `/api/sessions/${encodeURIComponent(id)}`);
export const createSession = (req) => call('POST', '/api/sessions', req);
export const cancelSession = (id) => call('DELETE', `/api/sessions/${encodeURIComponent(id)}`);
// A fresh one-time token: role "writer" (default) or "viewer" (read-only, to share).
export const mintToken = (id, role) =>
  call('POST', `/api/sessions/${encodeURIComponent(id)}/tokens`, role ? { role } : {});
// The recording as text, or null when there is none (404).
export async function getRecording(id) {
  try {
    return await call('GET', `/api/sessions/${encodeURIComponent(id)}/recording`);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}
