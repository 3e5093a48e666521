/* The agent's actions: state (Ready, Not ready), call controls, the transfer, keypad and queues
   dialogs, the keyboard shortcuts, and a browser phone's lost microphone. */
import { $, S, t, el, toast } from "./core.js";
import { currentCall, consulted } from "./call_facts.js";
import { send, act } from "./connection.js";
import { renderAll, toggleLang } from "./call_panel.js";

// ---------- dialogs ----------
export function openDialog(id) { const d = $(id); if (!d.open) d.showModal(); }
export function openTransfer() {
  const call = currentCall();
  if (!call || !["talking", "held"].includes(call.status) || consulted(call)) return;
  $("xfer-error").hidden = true;
  openDialog("transfer-dialog");
  $("xfer-target").focus();
}
// An attended transfer to a number is answered once the number answers (or does not: it rings for
// trunks.yaml's dial_timeout_s, 30 s unless set, 300 s at most). The call shows "consulting" before
// that, and the dialog closes then (call_panel.js), so that Back to caller, on the call's card, can be
// clicked while the number rings. Waited for longer than the longest ring, plus the hold before it.
const CONSULT_ANSWER_MS = 330000;
export async function submitTransfer(ev) {
  ev.preventDefault();
  const call = currentCall();
  if (!call) return;
  const kind = document.querySelector('input[name="xfer-kind"]:checked').value;
  const target = $("xfer-target").value.trim();
  S.wentBack.delete(call.call_id);
  try {
    await send({ type: "transfer", call_id: call.call_id, kind, target_kind: $("xfer-target-kind").value,
      target, note: $("xfer-note").value.trim() },
    kind === "attended" ? CONSULT_ANSWER_MS : undefined);
    $("xfer-note").value = "";
    $("transfer-dialog").close();
  } catch (e) {
    // The agent went back to the caller while the number rang: the refusal ("the consultation was
    // cancelled ...") is their own click coming true, which Back to caller tells itself.
    if (S.wentBack.has(call.call_id)) return;
    if (e.code === "target_no_answer") {
      // No fault: the number rang out and the caller is back with the agent (the call's own frame
      // says Talking again). Told as information, naming the number the agent asked for.
      if ($("transfer-dialog").open) $("transfer-dialog").close();
      toast(t("transfer.no_answer", { t: target }));
      return;
    }
    if ($("transfer-dialog").open) { const x = $("xfer-error"); x.hidden = false; x.textContent = e.message; }
    else toast(t("err.generic", { m: e.message }), "error");
  }
}
export function buildPad() {
  const pad = $("dtmf-pad");
  for (const k of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"]) {
    const b = el("button", "btn key", k);
    b.type = "button";
    b.addEventListener("click", () => sendDigit(k));
    pad.append(b);
  }
}
function sendDigit(k) {
  const call = currentCall();
  if (!call || consulted(call)) return;
  if (window.ctiPhone && window.ctiPhone.sendDtmf(k)) { $("dtmf-sent").textContent += k; return; }  // RFC 4733 from the browser
  act({ type: "dtmf", call_id: call.call_id, digits: k }).then(() => { $("dtmf-sent").textContent += k; }).catch(() => {});
}
export function openQueues() {
  const box = $("queues-list");
  const mine = new Set((S.state && S.state.queues) || []);
  // The queues the agent may join (their skills' and general), and any they are in already.
  const open = [...new Set([...(S.catalog.login_queues || []), ...mine])].sort();
  box.replaceChildren(...open.map((q) => {
    const lab = el("label", "check");
    const cb = el("input"); cb.type = "checkbox"; cb.checked = mine.has(q);
    cb.addEventListener("change", () => act({ type: cb.checked ? "queues_login" : "queues_logout", queues: [q] })
      .catch(() => { cb.checked = !cb.checked; }));
    lab.append(cb, el("span", "", ` ${q}`));
    return lab;
  }));
  openDialog("queues-dialog");
}

// ---------- actions ----------
export async function goReady() {
  if (!S.state) return;  // the hello is not in yet (the button is disabled until then; the R key too)
  // A browser phone without a usable microphone could not answer: the call would ring, fail and
  // count as missed. Refused here, naming the problem (phone.js says it on the card too).
  const noMic = window.ctiPhone ? await window.ctiPhone.micCheck() : null;
  if (noMic) { toast(t("ready.no_mic", { m: noMic }), "error"); return; }
  S.noMic = false;  // a microphone again: no not ready left to send for its loss
  if (!S.state) return;
  const st = S.state.state;
  if (st === "logged_out") { act({ type: "queues_login", queues: [] }).then(() => act({ type: "ready" })).catch(() => {}); return; }
  act({ type: "ready" }).catch(() => {});
}
export function goNotReady() { act({ type: "not_ready", reason: $("reason-select").value || "break" }).catch(() => {}); }
export function holdToggle() {
  const call = currentCall();
  if (!call || consulted(call) || $("btn-hold").disabled) return;  // e.g. ringing again after a reload
  if (call.status === "held") act({ type: "resume", call_id: call.call_id }).catch(() => {});
  else if (call.status === "talking") act({ type: "hold", call_id: call.call_id }).catch(() => {});
}
export function cancelConsult() {
  const call = currentCall();
  if (!call || call.status !== "consulting") return;
  S.wentBack.add(call.call_id);
  act({ type: "cancel_consult", call_id: call.call_id })
    .then(() => toast(t("transfer.back")))
    .catch(() => S.wentBack.delete(call.call_id));
}
export function conference() {
  const call = currentCall();
  if (call && call.status === "consulting") act({ type: "conference", call_id: call.call_id }).catch(() => {});
}
export function hangup() {
  const call = currentCall();
  if (call && call.status !== "ended") act({ type: "hangup", call_id: call.call_id }).catch(() => {});
}

function typing(ev) {
  const tag = (ev.target && ev.target.tagName) || "";
  return ["INPUT", "TEXTAREA", "SELECT"].includes(tag) || (ev.target && ev.target.isContentEditable);
}
export function onKey(ev) {
  // A key the browser phone took (phone.js: A answer, X decline while ringing, M mute) does nothing
  // more here: its X declining a ring would also hang up the call (the held call it rings for).
  if (!S.me || $("console-view").hidden || ev.defaultPrevented) return;
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !$("wrap-form").hidden) {
    ev.preventDefault(); $("wrap-form").requestSubmit(); return;
  }
  if (document.querySelector("dialog[open]")) {
    const open = document.querySelector("dialog[open]");
    if (open.id === "dtmf-dialog" && /^[0-9*#]$/.test(ev.key) && !typing(ev)) { ev.preventDefault(); sendDigit(ev.key); }
    return; // Esc closes dialogs natively
  }
  if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) {
    if (ev.key === "Escape" && typing(ev)) ev.target.blur();
    return;
  }
  const k = ev.key.toLowerCase();
  const map = {
    r: goReady, n: goNotReady, h: holdToggle, x: hangup, t: openTransfer, l: toggleLang,
    d: () => { if (currentCall() && !consulted(currentCall())) { $("dtmf-sent").textContent = ""; openDialog("dtmf-dialog"); } },
    w: () => { if (!$("wrap-form").hidden) $("wrap-disposition").focus(); },
    "/": () => $("search-q").focus(), "?": () => openDialog("help-dialog"),
    escape: () => { S.browseCustomer = null; renderAll(); },
  };
  const fn = map[k];
  if (fn) { ev.preventDefault(); fn(); }
}

// The browser phone has no usable microphone (phone.js's cti:mic-lost: lost, or found missing as a call
// rang, which it then declined): warned, and not ready with the reason no_microphone, as for a lost
// phone registration. Not while an offer rings: a not ready then is only pending, and the ring's end
// (declined) makes the agent not ready "missed"; nor may a state the console has not heard of yet
// (an offer's frames may come after its ring) lose it. So the wish stays until the agent is seen not
// ready (no_microphone, or a reason of their own) or logged out: each state change (cti:state) sends
// it again while the agent is available, in wrap-up, not ready "missed", or on a call without it pending.
export function onMicLost(ev) {
  if (!S.me || !S.me.agent_id || S.replaced) return;
  const d = (ev && ev.detail) || {};
  toast(d.declined ? t("offer.no_mic", { m: d.message }) : t("ready.mic_lost"), "error");
  S.noMic = true;
  noMicNotReady();
}
export function noMicNotReady() {
  const st = S.noMic && S.state;
  if (!st || st.state === "reserved") return;
  if (st.state === "logged_out" || (st.state === "not_ready" && st.reason !== "missed")) { S.noMic = false; return; }
  // On a call it is pending until the call's wrap-up ends (a miss leaves it stale: not looked at then).
  if (["on_call", "wrap_up"].includes(st.state) && st.not_ready_after_call === "no_microphone") return;
  act({ type: "not_ready", reason: "no_microphone" }).catch(() => {});
}
