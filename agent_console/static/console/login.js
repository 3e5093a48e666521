/* Login and logout: the login form, the session's end, and the console shown for who logged in. */
import { $, S, t, api } from "./core.js";
import { connect, send } from "./connection.js";
import { dropDrafts } from "./wrap_up.js";

// ---------- login ----------
// keepPhone: the session ended while the browser phone carries a call. The call goes on (the
// phone's SIP registration is not the session's); the agent logs in again to see it, and the
// phone stops when that call ends if no one did (tick).
export function showLogin(msg, keepPhone) {
  window.ctiSession.stop();
  S.phoneKeptFor = keepPhone && S.me ? S.me.user_id : null;
  S.me = null;
  S.wrapped.clear();
  S.cards.clear();
  if (!S.phoneKeptFor) {
    dropDrafts();
    document.dispatchEvent(new CustomEvent("cti:logout"));  // phone.js unregisters
  }
  if (S.ws) { S.ws.onclose = null; S.ws.close(); S.ws = null; }
  S.live = false;
  S.lost = false;
  $("console-view").hidden = true;
  $("login-view").hidden = false;
  const e = $("login-error");
  e.hidden = !msg; e.textContent = msg || "";
  $("login-username").focus();
}
export async function onLogin(ev) {
  ev.preventDefault();
  const btn = $("login-submit");
  btn.disabled = true;
  try {
    const res = await api("POST", "/api/auth/login",
      { username: $("login-username").value.trim(), password: $("login-password").value });
    $("login-password").value = "";
    const kept = S.phoneKeptFor;
    S.phoneKeptFor = null;
    if (kept && kept !== res.principal.user_id) {  // someone else: the phone kept for the call is not theirs
      dropDrafts();
      document.dispatchEvent(new CustomEvent("cti:logout"));
      if (window.ctiPhone) await window.ctiPhone.stop();
    }
    if (res.redirect && res.redirect !== "/") {
      location.assign(res.redirect);
      return;
    }
    window.ctiSession.start(res, S.tz);
    startConsole(res.principal);
  } catch (err) {
    const e = $("login-error");
    e.hidden = false;
    e.textContent = err.status === 429 ? t("login.throttled", { s: err.retryAfter || "?" })
      : err.status === 401 ? t("login.bad") : t("err.generic", { m: err.message });
  } finally { btn.disabled = false; }
}
export async function logout() {
  // Log out ends the agent's call (docs/agent-console.md): hung up in the engine first. The browser
  // phone's leg ending alone is a reload or a lost network to the engine, which keeps the caller on
  // hold to ring this agent again: the caller would wait on music for an agent who has left.
  // From here the session is ending: nothing reads the API on the state changes the hang-ups bring
  // (preview.js's count of due callbacks would meet the ended session: a 401).
  document.dispatchEvent(new CustomEvent("cti:leaving"));
  const live = [...S.calls.values()].filter((c) => c.status !== "ended");
  await Promise.allSettled(live.map((c) => send({ type: "hangup", call_id: c.call_id })));
  if (window.ctiPhone) await window.ctiPhone.stop();  // unregister while the SIP password still works
  try { await api("POST", "/api/auth/logout"); } catch (_) { /* already gone */ }
  showLogin();
}

// Staff without an extension are told their own role (supervisor, manager, admin).
export function staffText(me) {
  const key = `nav.staff.${me.role}`;
  return t(key) === key ? t("nav.supervisor") : t(key);
}

export function startConsole(me) {
  S.me = me;
  S.replaced = false;
  $("login-view").hidden = true;
  $("console-view").hidden = false;
  // Focus leaves the (now hidden) login form at once, so the keyboard shortcuts work from the first key.
  $("main").focus({ preventScroll: true });
  $("who-name").textContent = me.display_name || me.username;
  $("wallboard-link").hidden = me.role === "agent";
  if (!me.agent_id) { $("idle-text").textContent = staffText(me); $("preview-card").hidden = true; return; }
  connect();
  document.dispatchEvent(new CustomEvent("cti:login", { detail: me }));  // phone.js registers
  // Every app answers; only the console demo on fakes simulates calls.
  api("GET", "/api/demo/status").then((d) => { $("demo-card").hidden = !(d && d.available); }).catch(() => {});
}
