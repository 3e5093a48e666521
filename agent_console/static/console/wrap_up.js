/* The wrap-up form: shown for the call that ended, its draft kept per call in sessionStorage, the
   callback time in this computer's zone, its submit, and what it saved until the CRM's history has it. */
import { $, S, t, now, el, toast } from "./core.js";
import { peerNumber, currentCall, wrapCall } from "./call_facts.js";
import { send } from "./connection.js";
import { openCustomer } from "./pop.js";

let wrapShownFor = null;
export function renderWrap() {
  const call = wrapCall();
  const form = $("wrap-form");
  form.hidden = !call;
  if (!call) { wrapShownFor = null; return; }
  $("wrap-call").textContent = call.peer_number ? `· ${peerNumber(call)}` : "";
  const cases = (call.pop && call.pop.open_cases) || [];
  $("case-id").replaceChildren(...cases.map((c) => { const o = el("option", "", `#${c.id} ${c.subject}`); o.value = c.id; return o; }));
  form.querySelector('input[value="update"]').disabled = !cases.length;
  form.querySelector('input[value="new"]').disabled = !(call.pop && call.pop.customer) && !call.customer_id;
  $("wrap-no-answer-row").hidden = call.direction !== "outbound";
  if (wrapShownFor !== call.call_id) {
    wrapShownFor = call.call_id;
    form.reset();
    resolvedByHand = false;
    restoreDraft(call.call_id);
    syncCaseMode();
    $("wrap-error").hidden = true;
    $("wrap-disposition").focus();
  }
  showCallbackZone();
}
// A wrap-up being written is kept per call in this tab's sessionStorage, so that a reload brings
// it back; the wrap-up done, the call closed or a logout forget it.
const DRAFT = "cti.wrap.";
const DRAFT_FIELDS = ["wrap-disposition", "wrap-notes", "wrap-resolved", "case-subject", "case-priority", "case-id",
  "case-status", "wrap-callback", "wrap-no-answer"];
export function saveDraft() {
  const call = wrapCall();
  if (!call || wrapShownFor !== call.call_id) return;
  const d = { byHand: resolvedByHand, mode: document.querySelector('input[name="case-mode"]:checked').value };
  for (const id of DRAFT_FIELDS) d[id] = $(id).type === "checkbox" ? $(id).checked : $(id).value;
  try { sessionStorage.setItem(DRAFT + call.call_id, JSON.stringify(d)); } catch (_) { /* storage off or full */ }
}
function restoreDraft(callId) {
  let d = null;
  try { d = JSON.parse(sessionStorage.getItem(DRAFT + callId) || "null"); } catch (_) { /* not ours */ }
  if (!d || typeof d !== "object") return;
  for (const id of DRAFT_FIELDS) {
    if (!(id in d)) continue;
    if ($(id).type === "checkbox") $(id).checked = !!d[id]; else $(id).value = String(d[id]);
  }
  for (const r of document.querySelectorAll('input[name="case-mode"]')) r.checked = r.value === d.mode && !r.disabled;
  if (!document.querySelector('input[name="case-mode"]:checked')) document.querySelector('input[name="case-mode"][value="none"]').checked = true;
  resolvedByHand = !!d.byHand;
}
export function dropDrafts(callId) {
  try {
    for (const k of Object.keys(sessionStorage)) if (k.startsWith(DRAFT) && (!callId || k === DRAFT + callId)) sessionStorage.removeItem(k);
  } catch (_) { /* storage off */ }
}
// "Resolved on first contact" follows the disposition (catalog `resolves`, the flag's default)
// until the agent sets the box by hand.
let resolvedByHand = false;
export function resolvedSetByHand() { resolvedByHand = true; }
export function syncResolved() {
  if (resolvedByHand) return;
  const d = S.catalog.dispositions.find((x) => x.code === $("wrap-disposition").value);
  $("wrap-resolved").checked = !!(d && d.resolves);
}
export function syncCaseMode() {
  const mode = document.querySelector('input[name="case-mode"]:checked').value;
  $("case-new").hidden = mode !== "new";
  $("case-update").hidden = mode !== "update";
}
// The callback time is the agent's own: this computer's time zone, named beside the field, and
// sent with its UTC offset ("2027-01-05T09:30" typed in Shanghai goes as ...T09:30:00+08:00).
function utcOffset(d) {
  const m = -d.getTimezoneOffset(), a = Math.abs(m), p = (n) => String(n).padStart(2, "0");
  return `${m < 0 ? "-" : "+"}${p(Math.floor(a / 60))}:${p(a % 60)}`;
}
function callbackAt(value) {
  const d = value ? new Date(value) : null;  // a datetime-local value: this computer's zone
  if (!d || Number.isNaN(d.getTime())) return null;
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:` +
    `${p(d.getSeconds())}${utcOffset(d)}`;
}
export function showCallbackZone() {
  const typed = new Date($("wrap-callback").value);  // the offset of the day chosen (summer time)
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  const offset = `UTC${utcOffset(Number.isNaN(typed.getTime()) ? new Date() : typed)}`;
  $("wrap-callback-zone").textContent = zone ? t("wrap.callback_zone", { zone, offset }) : offset;
}
export async function submitWrap(ev) {
  ev.preventDefault();
  const call = wrapCall();
  if (!call) return;
  const err = $("wrap-error");
  const disposition = $("wrap-disposition").value;
  if (!disposition) { err.hidden = false; err.textContent = t("wrap.need_disp"); $("wrap-disposition").focus(); return; }
  const msg = { type: "wrap_up", call_id: call.call_id, disposition, notes: $("wrap-notes").value,
    resolved: $("wrap-resolved").checked };
  const mode = document.querySelector('input[name="case-mode"]:checked').value;
  if (mode === "new") msg.case = { subject: $("case-subject").value, priority: $("case-priority").value,
    note: $("wrap-notes").value.slice(0, 4000) };
  if (mode === "update") {
    msg.case = { id: Number($("case-id").value), note: $("wrap-notes").value.slice(0, 4000) };
    if ($("case-status").value) msg.case.status = $("case-status").value;
  }
  const cb = callbackAt($("wrap-callback").value);
  if (cb) msg.callback_at = cb;
  if (call.direction === "outbound" && $("wrap-no-answer").checked) msg.no_answer = true;
  $("wrap-submit").disabled = true;
  try {
    const result = (await send(msg)) || {};  // send resolves with the ack's result
    dropDrafts(call.call_id);
    rememberWrapUp(call, msg, result);
    toast(t("wrap.done"), "ok");
    // preview.js: the panel is free again, and says what became of a callback called (settled_callback)
    document.dispatchEvent(new CustomEvent("cti:wrapped", { detail: result }));
    const cid = (call.pop && call.pop.customer && call.pop.customer.id) || call.customer_id;
    if (cid) await openCustomer(cid);
  } catch (e) {
    err.hidden = false;
    // The server's own words name no field at times; a translated refusal names it already.
    err.textContent = e.field && e.message === e.serverMessage ? `${e.field}: ${e.message}` : e.message;
  } finally { $("wrap-submit").disabled = false; }
}

// The call logger writes a wrap-up's disposition and notes into the CRM after the ack, so a
// history read at once may lack the call or its result: the card shows what the ack confirmed
// saved until the CRM's copy has it (docs/agent-console.md).
function rememberWrapUp(call, msg, result) {
  S.wrapped.set(call.call_id, { id: result.interaction_id || null, call_id: call.call_id,
    at: call.started_at || now(), channel: "phone", direction: call.direction, agent: S.me && S.me.agent_id,
    agent_name: S.me && (S.me.display_name || S.me.username), disposition: msg.disposition, notes: msg.notes,
    resolved: msg.resolved, recording: false, customer_id: (call.pop && call.pop.customer && call.pop.customer.id)
      || call.customer_id || null });
  while (S.wrapped.size > 20) S.wrapped.delete(S.wrapped.keys().next().value);
}
export function withWrapUps(rows) {
  if (!S.wrapped.size) return rows;
  const shown = S.browseCustomer ? S.browseCustomer.customer : (currentCall() || {}).pop && currentCall().pop.customer;
  const out = rows.map((r) => {
    const w = r.call_id && S.wrapped.get(r.call_id);
    if (!w) return r;
    if (r.disposition) { S.wrapped.delete(r.call_id); return r; }  // the CRM has it now
    return { ...r, disposition: w.disposition, notes: w.notes, resolved: w.resolved, id: r.id || w.id };
  });
  const seen = new Set(out.map((r) => r.call_id));
  const missing = [...S.wrapped.values()].filter((w) => !seen.has(w.call_id) && shown && w.customer_id === shown.id
    && !(currentCall() && currentCall().call_id === w.call_id));
  return missing.length ? [...missing, ...out].sort((a, b) => Number(b.at || 0) - Number(a.at || 0)) : out;
}
