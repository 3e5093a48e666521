/* The call panel: the header's state, the offer and call cards, the idle card, the clock (tick), and
   the catalog's pickers; a language switch renders all again. */
import { $, S, t, label, now, el, clock, duration, toast } from "./core.js";
import { outward, callKind, e164, peerNumber, currentCall, consulted, transferText, transferredText, consultTarget } from "./call_facts.js";
import { syncRecording } from "./recording.js";
import { staffText } from "./login.js";
import { renderPop, renderSearch, freshCards } from "./pop.js";
import { renderWrap, dropDrafts } from "./wrap_up.js";

// ---------- rendering ----------
export function fillCatalog() {
  const rs = $("reason-select");
  const keep = rs.value;
  rs.replaceChildren(...S.catalog.reasons.map((r) => { const o = el("option", "", label("reason", r.code, r.label)); o.value = r.code; return o; }));
  if (keep) rs.value = keep;
  const ds = $("wrap-disposition");
  const keepD = ds.value;
  const first = el("option", "", t("wrap.choose")); first.value = "";
  ds.replaceChildren(first, ...S.catalog.dispositions
    .map((d) => { const o = el("option", "", label("disp", d.code, d.label)); o.value = d.code; return o; }));
  ds.value = keepD;
  $("xfer-queues").replaceChildren(...S.catalog.queues.map((q) => { const o = el("option"); o.value = q; return o; }));
}

export function renderAll() {
  if (!S.me) return;
  freshCards();
  $("replaced-card").hidden = !S.replaced;
  $("conn-lost").hidden = !S.lost || S.replaced;
  renderState();
  const call = currentCall();
  const pop = (S.offer && S.offer.pop) || (call && call.pop) || null;
  // offer
  $("offer-card").hidden = !S.offer;
  if (S.offer) {
    $("offer-title").textContent = S.offer.campaign ? t("offer.campaign", { c: S.offer.campaign })
      : S.offer.callback ? t("offer.callback") : t("offer.incoming");
    $("offer-number").textContent = e164(S.offer.caller_number, outward(S.offer)) || "—";
    $("offer-queue").textContent = S.offer.queue || "—";
    $("offer-waited").textContent = duration(S.offer.pop && S.offer.pop.waited_s);
    const tr = transferText(S.offer.pop && S.offer.pop.transfer);
    $("offer-transfer").textContent = tr;
    $("offer-transfer").hidden = !tr;
  }
  // call
  const live = call && call.status !== "ended" ? call : null;
  $("call-card").hidden = !call || !!S.offer && !live;
  if (call) {
    const st = $("call-status");
    const asked = consulted(call);
    const went = call.status === "ended" && call.detail && call.detail.transferred;
    st.textContent = asked && call.status === "consulting" ? t("status.consultation")
      : went ? transferredText(went) : label("status", call.status);
    st.dataset.status = call.status;
    $("call-direction").textContent = callKind(call);
    $("call-peer").textContent = peerNumber(call);
    const on = !!live;
    // Hold and transfer act on the caller talking or held with this agent; while consulting (the
    // caller on hold for it) or in a conference the engine refuses both.
    const withCaller = ["talking", "held"].includes(call.status);
    // Without the engine's socket none of these can go (the browser phone's own buttons still work).
    const off = !S.live;
    for (const id of ["btn-hold", "btn-transfer"]) $(id).disabled = off || !on || asked || !withCaller;
    // Ringing again for the held call (a reload): the agent's leg is the ring, nothing to resume until
    // it is answered (the engine refused with "not on hold").
    if (reringing(call)) $("btn-hold").disabled = true;
    $("btn-dtmf").disabled = off || !on || asked;
    $("btn-hangup").disabled = off || !on;
    $("btn-hold").firstElementChild.textContent = call.status === "held" ? t("call.resume") : t("call.hold");
    $("btn-hold").setAttribute("aria-pressed", String(call.status === "held"));
    // A consultation can be cancelled (back to the caller) or joined into a three-way call, by the
    // agent who consults; the agent consulted only talks to them.
    $("btn-cancel-consult").hidden = $("btn-conference").hidden = call.status !== "consulting" || asked;
    $("btn-cancel-consult").disabled = $("btn-conference").disabled = !on;
    const tr = transferText((call.detail && call.detail.transfer)
      || (asked ? { from_agent: call.detail.consult.from_agent } : null) || (call.pop && call.pop.transfer));
    $("call-transfer").textContent = tr;
    $("call-transfer").hidden = !tr;
    syncRecording(asked ? null : live);
    const consult = call.detail && call.detail.consult;
    if (call.status === "consulting" && consult && consult.role === "transferring") {
      toastOnce(`c-${call.call_id}`, t("transfer.consulting", { t: consultTarget(consult) }));
      // The transfer dialog started it: closed now, not when the target answers (actions.js), so that
      // Back to caller, behind the modal dialog, can be clicked while the target rings.
      if ($("transfer-dialog").open) $("transfer-dialog").close();
    }
  }
  // idle text
  const idle = !S.offer && !call && !S.browseCustomer && $("dial-pending").hidden;  // dial_box.js's
  $("idle-card").hidden = !idle;
  if (idle) {
    const st = S.state && S.state.state;
    $("idle-text").textContent = S.me && !S.me.agent_id ? staffText(S.me) : st === "available" ? t("call.idle_ready")
      : st === "logged_out" ? t("call.idle_logged_out") : t("call.idle");
    $("idle-queues").textContent = ((S.state && S.state.queues) || []).join(", ") || "—";
  }
  renderPop(pop || S.browseCustomer);
  renderWrap();
}

const toasted = new Set();
function toastOnce(key, text) { if (!toasted.has(key)) { toasted.add(key); toast(text); } }

function renderState() {
  const st = S.state || { state: "logged_out" };
  const pill = $("state-pill");
  pill.dataset.state = st.state;
  $("state-label").textContent = label("state", st.state);
  // Pending: the not-ready chosen for after the call, or the break an own dial was made from (not
  // ready "On an outbound call · then not ready: Break": the wrap-up ends in it).
  const after = st.not_ready_after_call ? t("state.after_call", { r: label("reason", st.not_ready_after_call) }) : "";
  const reason = st.state === "not_ready" && st.reason
    ? [label("reason", st.reason, st.reason), after].filter(Boolean).join(" · ") : after;
  $("state-reason").textContent = reason;
  // Until the hello says the agent's state, a Ready would go without its queue login and be refused.
  // Nor while the engine's socket is down (S.live: its hello came): a click could only be refused.
  $("btn-ready").disabled = !S.state || !S.live || st.state === "available" || S.replaced;
  $("btn-not-ready").disabled = !S.state || !S.live || st.state === "logged_out" || S.replaced;
}
export function tick() {
  // A replaced tab's phone would keep registering and take the extension's one contact back from
  // the tab that is the console now: it stops, once any call it carries is over.
  const phone = window.ctiPhone;
  if (S.replaced && phone && !["off", "in_call"].includes(phone.status)) phone.stop();
  if (S.phoneKeptFor && !S.me && !(window.ctiPhone && window.ctiPhone.status === "in_call")) {
    S.phoneKeptFor = null;  // the call kept through an ended session is over, and no one logged in
    dropDrafts();
    document.dispatchEvent(new CustomEvent("cti:logout"));
  }
  looseLine(phone);
  if (S.state) $("state-timer").textContent = clock(now() - (S.state.since || now()));
  const call = currentCall();
  $("call-timer").textContent = call ? clock(now() - call.started_at) : "";
  // After a reload or a lost network the engine keeps the caller on hold and rings the browser phone
  // again: the call card says so (else "On hold" and a ringing phone side by side look like a new call).
  const rering = reringing(call);
  $("call-rering").hidden = !rering;
  if (rering) $("call-rering").textContent = t("call.rering");
  if (rering !== wasRering) { wasRering = rering; renderAll(); }  // the phone's state is not a frame
}

let wasRering = false;
function reringing(call) {
  const phone = window.ctiPhone;
  return !!call && call.status === "held" && !S.offer && !!phone && phone.status === "ringing";
}

// The browser phone on a line while the engine shows this agent no call, no offer and no dial ringing
// (e.g. the agent's leg left up after a transfer) for LOOSE_MS: the phone offers its own Hang up.
// The grace covers a dial answered on the phone before the engine's call frame is in.
const LOOSE_MS = 3000;
let looseSince = 0;
function looseLine(phone) {
  if (!phone || !phone.setLoose) return;
  const engineCall = [...S.calls.values()].some((c) => c.status !== "ended") || !!S.offer || !$("dial-pending").hidden;
  const loose = !!S.me && S.live && phone.status === "in_call" && !engineCall;
  looseSince = loose ? looseSince || Date.now() : 0;
  phone.setLoose(loose && Date.now() - looseSince >= LOOSE_MS);
}

export function applyI18n() {
  document.documentElement.lang = S.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.querySelectorAll("[data-i18n-label]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nLabel)); });
  document.title = t("app.title");
  fillCatalog();
  renderAll();
  renderSearch();
}
function setLang(lang) {
  S.lang = lang;
  localStorage.setItem("cti.lang", lang);
  applyI18n();
  document.dispatchEvent(new CustomEvent("cti:lang"));
}
export function toggleLang() { setLang(S.lang === "en" ? "zh-CN" : "en"); }
