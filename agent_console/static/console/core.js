/* The console's shared state (S), its strings (t, label; a server refusal in the page's language:
   serverError), small helpers (el, clock, duration, ago, toast) and the REST client (api). */

export const $ = (id) => document.getElementById(id);
export const S = {
  lang: "en", tz: "UTC", me: null, ws: null, wsRetry: 0, replaced: false, clockSkew: 0, phoneKeptFor: null,
  state: null, offer: null, calls: new Map(), catalog: { reasons: [], dispositions: [], queues: [], login_queues: [] },
  focusCall: null, customer: null, pop: null, refSeq: 0, pending: new Map(), browseCustomer: null,
  wrapped: new Map(),  // call_id -> the history row its wrap-up saved (rememberWrapUp)
  cards: new Map(),  // customer id -> the card as this agent last saved it (customerSaved)
  noMic: false,  // the browser phone has no microphone: not ready no_microphone is still to be sent (actions.js)
  wentBack: new Set(),  // call_ids whose consultation the agent ended with Back to caller (actions.js)
  live: false,  // the engine's hello came on the open socket: the state shown is the engine's (connection.js)
  lost: false,  // the socket dropped while logged in: said on the page until a hello is in again
};

// ---------- i18n ----------
export function t(key, vars) {
  const dict = window.I18N[S.lang] || window.I18N.en;
  let s = dict[key] ?? window.I18N.en[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, v);
  return s;
}
export function label(prefix, code, fallback) {
  const key = `${prefix}.${code}`;
  const dict = window.I18N[S.lang] || window.I18N.en;
  return dict[key] ?? window.I18N.en[key] ?? fallback ?? code;
}
// A server's refusal in the page's language: its stable code's string (i18n.js err.code.*, with the
// field it names), else (a code this console does not know) the server's own text. The server
// speaks English, and says more than a code's string can: an English page shows its text.
export function serverError(message, code, field) {
  const key = `err.code.${code}`;
  const dict = window.I18N[S.lang] || window.I18N.en;
  const err = new Error(S.lang === "en" || !code || !(key in dict) ? message
    : field ? t("err.field", { m: dict[key], f: field }) : dict[key]);
  err.code = code; err.field = field; err.serverMessage = message;
  return err;
}
// ---------- helpers ----------
export const now = () => Date.now() / 1000 + S.clockSkew;
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
export function clock(sec) {
  sec = Math.max(0, Math.floor(sec));
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  const mm = String(m).padStart(2, "0"), ss = String(s).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
export function duration(sec) {
  sec = Math.round(sec || 0);
  return sec < 60 ? t("unit.s", { n: sec }) : t("unit.ms", { m: Math.floor(sec / 60), s: sec % 60 });
}
export function ago(at) {
  const ts = typeof at === "number" ? at : Date.parse(at) / 1000;
  if (!ts) return "";
  const d = now() - ts;
  if (d < 60) return t("ago.now");
  if (d < 3600) return t("ago.min", { n: Math.floor(d / 60) });
  if (d < 86400) return t("ago.h", { n: Math.floor(d / 3600) });
  return t("ago.d", { n: Math.floor(d / 86400) });
}
export function toast(text, kind) {
  const box = el("div", `toast ${kind || ""}`, text);
  $("toasts").append(box);
  setTimeout(() => box.remove(), kind === "error" ? 6000 : 3500);
}
// preview.js (the preview panel) hears of state changes through "cti:state".
export function stateChanged() { document.dispatchEvent(new CustomEvent("cti:state", { detail: S.state })); }
export async function api(method, path, body) {
  const r = await fetch(path, {
    method, credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await r.json(); } catch (_) { /* empty body */ }
  if (!r.ok) {
    const d = (data && data.detail) || {};
    const err = serverError(d.message || r.statusText, d.code, d.field);
    err.status = r.status;
    err.retryAfter = Number(r.headers.get("Retry-After") || 0);
    throw err;
  }
  return data;
}
