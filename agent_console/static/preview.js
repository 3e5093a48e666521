/* The agent's preview panel (docs/outbound.md#the-preview-panel): one customer at a time, a due
   callback or a preview campaign's contact, the same item whatever its source; Dial or Skip with a
   reason. REST: POST /api/preview/next, /api/preview/{source}/{id}/dial | skip. Everything is
   rendered with textContent. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const C = () => window.ctiConsole;
  const P = { item: null, calling: false, state: null, stateKey: "" };

  function localTime(zone) {
    if (!zone) return "";
    try {
      return new Date().toLocaleTimeString(document.documentElement.lang || "en",
        { timeZone: zone, hour: "2-digit", minute: "2-digit" });
    } catch (_) { return ""; }  // a zone this browser does not know
  }

  function render() {
    const { t } = C();
    const it = P.item;
    $("pv-item").hidden = !it;
    $("pv-calling").hidden = !P.calling;
    $("pv-actions").hidden = P.calling;  // the customer being called: no second Dial, no Skip
    $("pv-empty").hidden = !!it || P.calling;
    const card = $("preview-card");
    card.dataset.source = it ? it.source : "";
    card.dataset.id = it ? String(it.id) : "";
    if (!it) return;
    $("pv-name").textContent = it.name || t("cb.unknown");
    $("pv-number").textContent = it.number;
    const src = it.source === "callback" ? t("pv.callback") : t("pv.campaign", { c: it.campaign || "" });
    $("pv-meta").textContent = t("pv.meta", { src, n: it.attempts, max: it.max_attempts });
    const at = localTime(it.timezone);
    $("pv-local").textContent = at ? t("pv.local", { t: at, z: it.timezone }) : "";
    $("pv-note").hidden = !it.note;
    $("pv-note").textContent = it.note || "";
    const data = Object.entries(it.data || {});
    $("pv-data").hidden = !data.length;
    $("pv-data").replaceChildren(...data.flatMap(([k, v]) => [C().el("dt", "", k), C().el("dd", "", v)]));
    $("pv-script-box").hidden = !it.script;
    $("pv-script").textContent = it.script || "";
  }

  async function run(btn, work) {
    btn.disabled = true;
    try { await work(); } catch (e) { C().toast(C().t("err.generic", { m: e.message }), "error"); }
    finally { btn.disabled = false; render(); }
  }

  async function next() {
    const res = await C().api("POST", "/api/preview/next");
    P.item = res.item;
    P.calling = false;
    if (!P.item) C().toast(C().t("pv.none"));
  }
  async function dial() {
    const it = P.item;
    if (!it) return;
    // "Calling…" from the click: the engine answers only once the agent's own phone answered (it
    // rings first, up to 30 s), and a Skip or second Dial meanwhile would act on the call being placed.
    P.calling = true;  // the card (name, number, script) stays until the wrap-up or Next customer
    render();
    C().callStarted();
    try {
      await C().api("POST", `/api/preview/${it.source}/${it.id}/dial`);
    } catch (e) {
      P.calling = false;
      throw e;
    }
    countDue();
  }
  async function skip() {
    const it = P.item;
    if (!it) return;
    await C().api("POST", `/api/preview/${it.source}/${it.id}/skip`, { reason: $("pv-reason").value });
    P.item = null;
    C().toast(C().t("pv.skipped"), "ok");
    countDue();
  }

  // What the wrap-up made of the callback called: done, back on the list for another attempt (no
  // answer), or closed after its last attempt.
  function settled(cb) {
    if (!cb) return;
    const max = P.item && P.item.source === "callback" && P.item.id === cb.id ? P.item.max_attempts : null;
    const key = cb.state === "pending" ? (max ? "pv.cb_retry_of" : "pv.cb_retry")
      : cb.state === "failed" ? "pv.cb_failed" : cb.state === "done" ? "pv.cb_done" : null;
    if (key) C().toast(C().t(key, { n: cb.attempts, max }));
  }

  // The count of due callbacks beside the title (listing claims nothing); read again when the
  // agent's state or queues change, after a wrap-up, and every 30 s.
  async function countDue() {
    if (!P.state) return;
    let due = [];
    try { due = await C().api("GET", "/api/callbacks?limit=50"); } catch (_) { return; }
    const n = due.filter((cb) => cb.state === "pending").length;
    $("cb-count").textContent = n ? C().t("pv.due", { n }) : "";
  }
  function onState(ev) {
    if (P.leaving) return;  // logging out (cti:leaving): the session is about to end
    P.state = ev.detail;
    const key = P.state ? `${P.state.state}|${(P.state.queues || []).join(",")}` : "";
    if (key !== P.stateKey) { P.stateKey = key; countDue(); }
  }

  function wire() {
    $("btn-preview-next").addEventListener("click", (ev) => run(ev.currentTarget, next));
    $("pv-dial").addEventListener("click", (ev) => run(ev.currentTarget, dial));
    $("pv-skip").addEventListener("click", (ev) => run(ev.currentTarget, skip));
    document.addEventListener("cti:state", onState);
    document.addEventListener("cti:wrapped", (ev) => {
      settled(ev.detail && ev.detail.settled_callback);
      if (P.calling) P.item = null;  // the wrap-up ended the preview call: back to Next customer
      P.calling = false;
      render();
      countDue();
    });
    document.addEventListener("cti:lang", render);
    document.addEventListener("cti:logout", () => { P.item = null; P.calling = false; P.state = null; render(); });
    document.addEventListener("cti:leaving", () => { P.leaving = true; P.state = null; P.stateKey = ""; });
    document.addEventListener("cti:login", () => { P.leaving = false; });
    setInterval(countDue, 30000);
    render();
  }
  document.addEventListener("DOMContentLoaded", wire);
})();
