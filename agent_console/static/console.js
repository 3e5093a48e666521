/* Agent console SPA: no build step, no external resources. Talks to /api (REST, cookie session)
   and /ws/agent (protocol v1, docs/websocket-protocol.md). All data is rendered with textContent.
   This entry wires the page and boots; each job is a module of static/console/: core (state, strings,
   helpers, api), connection (the websocket), login, call_panel, call_facts, pop (customer),
   wrap_up, recording, actions (buttons, dialogs, keys). */
import { $, S, t, now, el, toast, api } from "./console/core.js";
import { wrapCall } from "./console/call_facts.js";
import { recordingToggle } from "./console/recording.js";
import { showLogin, onLogin, logout, startConsole } from "./console/login.js";
import { takeBack, act } from "./console/connection.js";
import { renderAll, tick, applyI18n, toggleLang } from "./console/call_panel.js";
import { onSearchInput, runSearch, shownCustomer, customerSaved } from "./console/pop.js";
import { saveDraft, resolvedSetByHand, syncResolved, syncCaseMode, showCallbackZone, submitWrap } from "./console/wrap_up.js";
import { openDialog, openTransfer, submitTransfer, buildPad, openQueues, goReady, goNotReady, holdToggle,
  cancelConsult, conference, hangup, onKey, onMicLost, noMicNotReady } from "./console/actions.js";

// ---------- boot ----------
function wire() {
  $("login-form").addEventListener("submit", onLogin);
  document.querySelectorAll(".lang-toggle").forEach((b) => b.addEventListener("click", toggleLang));
  $("btn-logout").addEventListener("click", logout);
  $("btn-take-back").addEventListener("click", takeBack);
  $("btn-ready").addEventListener("click", goReady);
  $("btn-not-ready").addEventListener("click", goNotReady);
  $("btn-queues").addEventListener("click", openQueues);
  $("btn-logoff").addEventListener("click", () => act({ type: "queues_logout", queues: [] })
    .then(() => $("queues-dialog").close()).catch(() => {}));
  $("btn-help").addEventListener("click", () => openDialog("help-dialog"));
  $("btn-hold").addEventListener("click", holdToggle);
  $("btn-cancel-consult").addEventListener("click", cancelConsult);
  $("btn-conference").addEventListener("click", conference);
  $("btn-rec").addEventListener("click", recordingToggle);
  $("btn-hangup").addEventListener("click", hangup);
  $("btn-transfer").addEventListener("click", openTransfer);
  $("btn-dtmf").addEventListener("click", () => { $("dtmf-sent").textContent = ""; openDialog("dtmf-dialog"); });
  $("transfer-form").addEventListener("submit", submitTransfer);
  $("wrap-form").addEventListener("submit", submitWrap);
  $("wrap-form").addEventListener("input", saveDraft);
  $("wrap-callback").addEventListener("input", showCallbackZone);
  $("wrap-form").addEventListener("change", saveDraft);
  $("wrap-disposition").addEventListener("change", syncResolved);
  $("wrap-resolved").addEventListener("change", resolvedSetByHand);
  document.querySelectorAll('input[name="case-mode"]').forEach((r) => r.addEventListener("change", syncCaseMode));
  $("search-form").addEventListener("submit", runSearch);
  $("search-q").addEventListener("input", onSearchInput);
  $("btn-demo-offer").addEventListener("click", () => api("POST", "/api/demo/offer",
    { caller_number: $("demo-customer").value }).catch((e) => toast(e.message, "error")));
  document.querySelectorAll("[data-close]").forEach((b) => b.addEventListener("click", () => b.closest("dialog").close()));
  document.addEventListener("keydown", onKey);
  document.addEventListener("cti:mic-lost", onMicLost);
  document.addEventListener("cti:state", noMicNotReady);
  buildPad();
  setInterval(tick, 1000);
}

async function boot() {
  const saved = localStorage.getItem("cti.lang");
  S.lang = saved || (navigator.language && navigator.language.toLowerCase().startsWith("zh") ? "zh-CN" : "en");
  wire();
  applyI18n();
  // /api/auth/session answers 200 logged in or not: a logged-out visit fails no request.
  try {
    const s = await api("GET", "/api/auth/session");
    S.tz = s.tz || "UTC";
    if (s.authenticated) { window.ctiSession.start(s, S.tz); startConsole(s.principal); } else showLogin();
  } catch (_) { showLogin(); }
}
// For preview.js and customer_edit.js; callStarted: a dialled call takes the screen from a customer being browsed.
// wrap_timer.js: the server's clock (now) and the call whose wrap-up form is shown (wrapCallId).
// dial_box.js: act (a websocket action, its refusal toasted), refresh (render again), browsed (the customer).
window.ctiConsole = { api, act, t, el, toast, callStarted: () => { S.browseCustomer = null; renderAll(); },
  refresh: renderAll, browsed: () => (S.browseCustomer && S.browseCustomer.customer) || null, shownCustomer, customerSaved, now, wrapCallId: () => (wrapCall() || {}).call_id || null };
document.addEventListener("DOMContentLoaded", boot);
