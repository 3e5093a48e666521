/* What a call or offer is, as the agent sees it (inbound, outbound, a campaign's, a callback's), and
   which call the console shows (currentCall) or wraps up (wrapCall). */
import { $, S, t } from "./core.js";

// A disposition without a translation (one an admin added to the catalog): the catalog's own label.
export function dispLabel(code) {
  const d = S.catalog.dispositions.find((x) => x.code === code);
  return d ? d.label : code || "—";
}

// A call (or offer) the engine placed: an agent's dial, a callback's or preview contact's call, or a
// person a progressive or predictive campaign reached (queued to an agent, yet no one called in).
export function outward(c) { return !!c && (c.direction === "outbound" || !!c.campaign || !!(c.detail && c.detail.campaign)); }
// A callback's call (or offer): a preview callback the agent called (outbound), or virtual hold's,
// where the customer asked to be called back, kept their place and answered the engine's call.
export function isCallback(c) { return !!c && (!!c.callback || !!(c.detail && c.detail.callback)); }
// What the call is, as the agent sees it: a campaign's, a callback's, else inbound or outbound.
export function callKind(c) {
  const d = (c && c.detail) || {};
  const campaign = d.campaign || (c && c.campaign);
  if (campaign) return t("call.campaign", { c: campaign });
  if (isCallback(c)) return t(outward(c) ? "call.callback" : "call.kept_place");
  return t(outward(c) ? "call.outbound" : "call.inbound");
}
// The engine dials E.164 digits without the "+" (acd.call_actions.dial): shown in E.164, as callers are.
export function e164(n, out) { return out && /^[1-9][0-9]{7,14}$/.test(n || "") ? `+${n}` : n || ""; }
export function peerNumber(call) { return e164(call.peer_number, outward(call)); }

export function currentCall() {
  const calls = [...S.calls.values()];
  return calls.find((c) => c.call_id === S.focusCall) || calls.find((c) => c.status !== "ended")
    || calls[0] || null;
}
export function wrapCall() { return [...S.calls.values()].find((c) => c.status === "ended") || null; }
// The consultation leg of an attended transfer to this agent: the call is still the transferring
// agent's, so this agent may only hang up until the transfer completes (detail.consult.role).
export function consulted(call) { return !!(call && call.detail && call.detail.consult && call.detail.consult.role === "consulted"); }
// "Transferred by agent 1001: note": who handed the call (or the consultation) over, and their note.
export function transferText(tr) {
  if (!tr || !tr.from_agent) return "";
  const by = t("transfer.by", { a: tr.from_agent });
  return tr.note ? `${by}: ${tr.note}` : by;
}
export function consultTarget(c) {
  return c.target_kind === "agent" ? t("transfer.target_agent", { t: c.target })
    : c.target_kind === "queue" ? t("transfer.target_queue", { t: c.target }) : c.target;
}
// "Transferred to 86950001" (to agent 1002, to queue billing): where this agent's transfer sent the
// call, on their ended call (detail.transferred).
export function transferredText(tr) {
  return t(tr.target_kind === "agent" ? "status.transferred_agent" : tr.target_kind === "queue"
    ? "status.transferred_queue" : "status.transferred_number", { t: tr.target });
}
