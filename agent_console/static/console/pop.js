/* The customer: the screen pop of the offer or call (renderPop), the customer search, a customer
   opened or browsed, and the card as the agent last saved it (customer_edit.js). */
import { $, S, t, label, el, duration, ago, toast, api } from "./core.js";
import { dispLabel, outward, isCallback, callKind, e164, currentCall, wrapCall } from "./call_facts.js";
import { playbackButton } from "./recording.js";
import { renderAll } from "./call_panel.js";
import { withWrapUps } from "./wrap_up.js";

export function renderPop(pop) {
  const cust = pop && pop.customer;
  $("customer-card").hidden = !cust;
  $("unknown-card").hidden = !pop || !!cust;
  $("script-card").hidden = !pop || (!pop.script && !(pop.articles || []).length);
  if (!pop) return;
  const isCall = !S.browseCustomer || pop !== S.browseCustomer;
  // The call (or offer) this pop is of: what it is decides what the pop says.
  const owner = !isCall ? null : S.offer && S.offer.call_id === pop.call_id ? S.offer
    : S.calls.get(pop.call_id) || currentCall();
  const out = outward(owner);
  if (!cust) {
    const number = e164(pop.caller_number || (owner && (owner.peer_number || owner.caller_number)), out);
    // source "unavailable": the CRM was away, not "a new customer" (docs/resilience.md).
    const away = pop.source === "unavailable";
    // A number the agent (or a campaign, a callback) dialled that no customer has: no one "called".
    const byNumber = out && pop.complete !== false && !away;
    $("unknown-title").textContent = pop.complete === false ? t("pop.loading") : away ? t("pop.unavailable")
      : byNumber ? number || t("pop.unknown_number") : t("pop.unknown");
    $("unknown-label").textContent = byNumber ? t("pop.unknown_number") : t("pop.number");
    $("unknown-number").textContent = byNumber ? "" : number || "—";
    $("unknown-number").hidden = byNumber;
    $("pop-source").hidden = !away;
  } else {
    $("cust-avatar").textContent = (cust.name || "#").trim().charAt(0);
    // No name: a call linked to this customer while the CRM could not be read gives their id only.
    $("cust-name").textContent = cust.name || t("pop.customer_id", { id: cust.id });
    // cache: the card the engine kept while the CRM is away; unavailable: the CRM could not be read,
    // the card holds only what the engine knew (agent_console/pop_refresh.py).
    const note = pop.source === "cache" ? "pop.source_cache" : pop.source === "unavailable" ? "pop.source_not_loaded" : "";
    $("cust-source").hidden = !note;
    if (note) {
      $("cust-source").dataset.i18n = note;  // what applyI18n writes again on a change of language
      $("cust-source").textContent = t(note);
    }
    for (const [id, text] of [["cust-company", cust.company], ["cust-phone", cust.phone], ["cust-email", cust.email]]) {
      $(id).textContent = text || "";
      $(id).hidden = !text;  // no " · " before or after what the customer does not have
    }
    const tier = $("cust-tier");
    tier.textContent = cust.tier ? label("tier", cust.tier, cust.tier) : "";
    tier.dataset.tier = cust.tier || "";
    tier.hidden = !cust.tier;
    $("cust-lifecycle").textContent = cust.lifecycle ? label("life", cust.lifecycle) : "";
    $("cust-lifecycle").hidden = !cust.lifecycle;
    $("cust-tags").replaceChildren(...(cust.tags || []).map((x) => el("span", "chip tag", x)));
    $("btn-dial-customer").hidden = !S.browseCustomer || !cust.phone;
    $("btn-edit-customer").hidden = !!note;  // the CRM is away: nothing to save to
  }
  $("pop-facts").hidden = !isCall;
  if (isCall) {
    // An outbound call says what it is (Outbound, the campaign's name, Callback) and shows only what
    // it has: no queue or skills when the agent dialled, no intent (the IVR's), no "Waited 0 s".
    // Virtual hold's callback says so too, with an inbound call's facts (it waited at its place).
    const skills = Object.entries(pop.skills || {}).map(([k, v]) => `${k}≥${v}`).join(", ");
    const kind = out || isCallback(owner);
    $("pop-kind").textContent = kind ? callKind(owner) : "";
    $("pop-kind").parentElement.hidden = !kind;
    $("pop-queue").textContent = pop.queue || "—";
    $("pop-queue").parentElement.hidden = out && !pop.queue;
    $("pop-skills").textContent = skills || "—";
    $("pop-skills").parentElement.hidden = out && !skills;
    $("pop-waited").parentElement.hidden = out;
    $("pop-waited").textContent = out ? "" : duration(pop.waited_s);
    $("pop-intent").textContent = pop.intent || "—";
    $("pop-intent").parentElement.hidden = out && !pop.intent;
  }
  const hist = $("cust-history");
  const rows = withWrapUps(pop.interactions || []).slice(0, 5);
  hist.replaceChildren(...(rows.length ? rows.map((r) => {
    const li = el("li");
    if (r.call_id) li.dataset.call = r.call_id;
    const head = el("div", "h-head");
    // A call no agent wrapped up says how it ended (the caller hung up waiting, ...), not just "—".
    const how = r.disposition || !r.outcome || r.outcome === "answered" ? label("disp", r.disposition, dispLabel(r.disposition))
      : label("outcome", r.outcome, r.outcome);
    const meta = [ago(r.at), label("chan", r.channel, r.channel || ""), r.agent_name || r.agent || ""];
    head.append(el("span", "badge disp", how), el("span", "muted", meta.filter(Boolean).join(" · ")));
    if (r.resolved) head.append(el("span", "ok", "✓"));
    if (r.csat) head.append(el("span", "chip", `${t("rec.csat")} ${r.csat}/5`));
    li.append(head, el("div", "h-notes", r.notes || ""));
    if (r.id && r.recording) li.append(playbackButton(r.id));  // the server says: recorded, and yours to hear
    return li;
  }) : [el("li", "muted", t("pop.none"))]));
  const cases = $("cust-cases");
  cases.replaceChildren(...((pop.open_cases || []).length ? pop.open_cases.map((c) => {
    const li = el("li");
    li.append(el("span", `prio ${c.priority || ""}`, label("prio", c.priority || "normal")),
      el("b", "", ` #${c.id} `), el("span", "", c.subject), el("span", "muted", ` · ${label("case", c.status)}`));
    return li;
  }) : [el("li", "muted", t("pop.none"))]));
  const path = pop.ivr_path || [];
  $("ivr-block").hidden = !path.length;
  $("ivr-path").replaceChildren(...path.map((s) => {
    const li = el("li");
    li.append(el("span", "", s.label || s.node));
    if (s.choice) li.append(el("b", "", ` → ${s.choice}`));
    if (s.input) li.append(el("code", "", ` ${s.input}`));
    return li;
  }));
  if (pop.script) {
    $("script-title").textContent = pop.script.title;
    $("script-body").textContent = pop.script.body;
  }
  $("articles").replaceChildren(...(pop.articles || []).map((a) => {
    const li = el("li");
    li.append(el("b", "", `${a.id} `), el("span", "", a.title));
    if (a.summary) li.append(el("div", "muted", a.summary));
    return li;
  }));
}

// ---------- customers ----------
let searchTimer = null;
export function onSearchInput() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(runSearch, 180);
}
export async function runSearch(ev) {
  if (ev) ev.preventDefault();
  const q = $("search-q").value.trim();
  const list = $("search-results");
  if (!q) { list.replaceChildren(); return; }
  try {
    S.found = await api("GET", `/api/customers?q=${encodeURIComponent(q)}&limit=8`);
    renderSearch();
  } catch (e) { toast(e.message, "error"); }
}
export function renderSearch() {  // again on a language switch ("No customer found.", tiers)
  const rows = S.found, list = $("search-results");
  if (!rows || !$("search-q").value.trim()) { list.replaceChildren(); return; }
  list.replaceChildren(...(rows.length ? rows.map((c) => {
    const li = el("li");
    const b = el("button", "result");
    b.type = "button";
    b.append(el("b", "", c.name), el("span", "muted", ` ${c.phone || ""}`));
    if (c.tier) { const tb = el("span", "tier small", label("tier", c.tier, c.tier)); tb.dataset.tier = c.tier; b.append(tb); }
    b.addEventListener("click", () => openCustomer(c.id));
    li.append(b);
    return li;
  }) : [el("li", "muted", t("search.none"))]));
}
export async function openCustomer(id) {
  try {
    const d = await api("GET", `/api/customers/${id}`);
    const busy = S.offer || [...S.calls.values()].some((c) => c.status !== "ended");
    if (busy || wrapCall()) {
      const call = currentCall();
      if (call && call.pop && call.pop.customer && call.pop.customer.id === id) {
        call.pop = { ...call.pop, interactions: d.interactions.slice(0, 5), open_cases: d.open_cases };
      }
      S.browseCustomer = null;
    } else {
      S.browseCustomer = { call_id: "", customer: d.customer, interactions: d.interactions, open_cases: d.open_cases,
        articles: [], skills: {}, ivr_path: [] };
    }
    renderAll();
  } catch (e) { toast(e.message, "error"); }
}
// Editing the customer on the card (customer_edit.js): the card shown, and the CRM's answer to a
// save. The engine's copy of a live call's pop keeps the card it was built with, and every call
// frame brings that copy back: the card saved here is laid over it (freshCards) for the session.
export function shownCustomer() {
  const call = currentCall();
  const pop = (S.offer && S.offer.pop) || (call && call.pop) || S.browseCustomer;
  return (pop && pop.customer) || null;
}
export function customerSaved(c) {
  S.cards.delete(c.id);
  S.cards.set(c.id, { name: c.name, company: c.company, tier: c.tier, lifecycle: c.lifecycle, language: c.language,
    phone: (c.phones[0] && c.phones[0].number) || null, email: c.emails[0] || null, tags: c.tags });
  while (S.cards.size > 50) S.cards.delete(S.cards.keys().next().value);
  renderAll();
}
export function freshCards() {
  if (!S.cards.size) return;
  for (const pop of [S.offer && S.offer.pop, ...[...S.calls.values()].map((c) => c.pop), S.browseCustomer]) {
    const card = pop && pop.customer && S.cards.get(pop.customer.id);
    if (card) pop.customer = { ...pop.customer, ...card };
  }
}
