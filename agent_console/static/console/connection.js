/* The /ws/agent connection (protocol v1, docs/websocket-protocol.md): connect and reconnect, the
   actions sent (send, act) and the frames received (onFrame); the session's renewal hands it its token. */
import { $, S, t, label, serverError, toast, stateChanged, api } from "./core.js";
import { showLogin } from "./login.js";
import { fillCatalog, renderAll, tick } from "./call_panel.js";
import { dropDrafts } from "./wrap_up.js";

// ---------- session ----------
// The session is renewed while the agent works (session.js): keys and clicks, and without them
// while they take calls or wait for them in queues (an agent not ready and untouched is idle).
// The open socket is handed each renewed token, else it would close at its first token's expiry.
window.ctiSession.busy = () => S.calls.size > 0 || !!S.offer
  || !!(S.state && !["logged_out", "not_ready"].includes(S.state.state));
window.ctiSession.onRenewed = (token) => {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) send({ type: "reauth", token }).catch(() => { /* keeps the old */ });
};

// ---------- websocket ----------
export function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/agent`);
  S.ws = ws;
  ws.onopen = () => { S.wsRetry = 0; setConn(true); heartbeat(ws); };
  ws.onmessage = (m) => { try { onFrame(JSON.parse(m.data)); } catch (e) { console.error(e); } };
  ws.onclose = (ev) => {
    setConn(false);
    if (S.ws !== ws) return;
    S.ws = null;
    S.live = false;
    if (ev.code === 4000) {  // the console was opened in another tab: that one is the console now
      S.replaced = true;
      toast(t("conn.replaced"), "error");
      renderAll();
      tick();  // and its phone: this one stops (now, or when the call it carries ends)
      return;
    }
    if (ev.code === 4001 || ev.code === 1008) {
      api("GET", "/api/auth/session").then((s) => { if (s.authenticated) { S.lost = true; renderAll(); retry(); } else sessionEnded(); })
        .catch(() => sessionEnded());
      return;
    }
    // Lost (a network drop, the engine restarting): said until the engine's hello is in again.
    S.lost = true;
    renderAll();
    retry();
  };
}
// A network that drops silently (Wi-Fi gone, a NAT forgetting the connection) leaves the socket open
// to the browser for minutes: a ping every HEARTBEAT_MS that has no pong within HEARTBEAT_WAIT_MS
// gives that socket up as lost (said on the page, and connected again).
const HEARTBEAT_MS = 10000, HEARTBEAT_WAIT_MS = 5000;
function heartbeat(ws) {
  const timer = setInterval(() => {
    if (S.ws !== ws || ws.readyState !== WebSocket.OPEN) { clearInterval(timer); return; }
    send({ type: "ping" }, HEARTBEAT_WAIT_MS).catch(() => {
      if (S.ws !== ws) return;
      clearInterval(timer);
      ws.onmessage = null;
      const onclose = ws.onclose;
      ws.onclose = null;
      ws.close();  // its close handshake may never come back: handled as closed now
      onclose({ code: 1006 });
    });
  }, HEARTBEAT_MS);
}
// "Use this window": this tab becomes the console again (the other one is told in turn).
export function takeBack() {
  if (!S.replaced || !S.me) return;
  S.replaced = false;
  S.wsRetry = 0;
  connect();
  document.dispatchEvent(new CustomEvent("cti:login", { detail: S.me }));  // phone.js registers again
  renderAll();
}
function sessionEnded() {
  const onCall = !!window.ctiPhone && window.ctiPhone.status === "in_call";
  showLogin(t(onCall ? "login.expired_call" : "login.expired"), onCall);
}
function retry() {
  const delay = Math.min(10000, 300 * 2 ** S.wsRetry++);
  setTimeout(() => { if (S.me && !S.ws) connect(); }, delay);
}
function setConn(ok) {
  const c = $("conn-status");
  c.dataset.ok = String(ok);
  c.title = ok ? t("conn.ok") : t("conn.down");
}
// ``timeoutMs``: how long the answer may take (an attended transfer's comes once the target answered).
export function send(msg, timeoutMs = 8000) {
  return new Promise((resolve, reject) => {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) { reject(new Error(t("conn.down"))); return; }
    const ref = String(++S.refSeq);
    S.pending.set(ref, { resolve, reject });
    S.ws.send(JSON.stringify({ ...msg, ref }));
    setTimeout(() => { if (S.pending.delete(ref)) reject(new Error("timeout")); }, timeoutMs);
  });
}
export function act(msg) {
  return send(msg).catch((err) => { toast(...refusalToast(err)); throw err; });
}
// How a refusal is told: a phone that did not answer is no fault (nothing changed), said calmly as
// information; anything else as an error.
export function refusalToast(err) {
  if (err.code === "phone_no_answer") return [t("dial.phone_no_answer")];
  return [t("err.generic", { m: err.message }), "error"];
}

function onFrame(f) {
  switch (f.type) {
    case "hello":
      S.live = true;
      if (S.lost) { S.lost = false; toast(t("conn.back"), "ok"); }
      S.clockSkew = f.server_time - Date.now() / 1000;
      S.state = f.state; S.offer = f.offer; S.catalog = f.catalog;
      S.calls = new Map(f.calls.map((c) => [c.call_id, c]));
      fillCatalog();
      stateChanged();
      break;
    case "state": S.state = f.state; stateChanged(); break;
    case "offer": S.offer = f.offer; S.browseCustomer = null; break;
    case "offer_withdrawn":
      if (S.offer && S.offer.call_id === f.call_id) S.offer = null;
      S.calls.delete(f.call_id);
      toast(t("offer.withdrawn", { r: label("withdrawn", f.reason) }));
      break;
    case "call": {
      const old = S.calls.get(f.call.call_id);
      if (f.call.status === "closed") { S.calls.delete(f.call.call_id); dropDrafts(f.call.call_id); }
      else S.calls.set(f.call.call_id, { ...f.call, pop: f.call.pop || (old && old.pop) });
      if (S.offer && S.offer.call_id === f.call.call_id && f.call.status !== "ringing") S.offer = null;
      // A consulted agent who did not answer, or is no longer there (logged out, phone offline): the
      // caller is back (this very update). Told once, calmly, from the frame itself (a hello's copy of
      // it, after a reload, is not news).
      const ended = f.call.detail && f.call.detail.consult_ended;
      if (ended && ended.reason === "no_answer") {
        toast(t(ended.target_kind === "agent" ? "transfer.agent_no_answer" : "transfer.no_answer", { t: ended.target }));
      } else if (ended && ended.reason === "unavailable") {
        toast(t("transfer.agent_unavailable", { t: ended.target }));
      }
      break;
    }
    case "pop": {
      if (S.offer && S.offer.call_id === f.call_id) S.offer.pop = f.pop;
      const c = S.calls.get(f.call_id);
      if (c) c.pop = f.pop;
      break;
    }
    case "ack": case "error": {
      const p = f.ref && S.pending.get(f.ref);
      if (p) {
        S.pending.delete(f.ref);
        if (f.type === "ack") p.resolve(f.result);
        else p.reject(serverError(f.message, f.code, f.field));
      } else if (f.type === "error") toast(serverError(f.message, f.code, f.field).message, "error");
      return;
    }
    case "bye": return;
    case "pong": {  // the heartbeat's
      const p = f.ref && S.pending.get(f.ref);
      if (p) { S.pending.delete(f.ref); p.resolve(f); }
      return;
    }
    default: return;
  }
  renderAll();
}
