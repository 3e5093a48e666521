/* Working the preview-callback list: filters -> /api/supervisor/callbacks (JSON table, CSV link with the same
   filters), cancel with a reason (POST .../cancel; the server's refusal is shown on the page). Read again
   every 30 s and after a cancel. ?state= and ?queue= in the address preselect the filters (wallboard tiles).
   The queue filter offers the configured queues only (the wallboard's, config/queues.yaml): the server
   refuses any other ?queue= with a 422, and a callback of a queue since removed is still listed under "(all)". */
"use strict";
(() => {
  const { $, S, t, api, el } = window.Sup;
  const STATES = ["open", "pending", "claimed", "done", "failed", "cancelled", "all"];
  const OPEN = new Set(["pending", "claimed"]);
  const EVERY_MS = 30000;
  let rows = null, cancelling = null, timer = null, seq = 0;

  function params(extra) {
    const p = new URLSearchParams({ state: $("f-state").value });
    if ($("f-queue").value) p.set("queue", $("f-queue").value);
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return p;
  }
  function addQueue(name) {
    if (!name || [...$("f-queue").options].some((o) => o.value === name)) return;
    const o = el("option", "", name);
    o.value = name;
    $("f-queue").append(o);
  }
  const when = (epoch) => window.Sup.when(epoch);  // the call center's zone, named in the top bar

  function render() {
    const body = $("callbacks").querySelector("tbody");
    body.replaceChildren();
    if (!rows) return;
    $("cb-empty").hidden = rows.length > 0;
    for (const cb of rows) {
      const tr = el("tr", cb.overdue ? "overdue" : "");
      tr.dataset.id = cb.id;
      tr.dataset.state = cb.state;
      const due = el("td", "num", when(cb.due_at));
      if (cb.overdue) due.append(" ", el("span", "pill late", t("cb.overdue")));
      const state = el("td");
      state.append(el("span", `pill cb-${cb.state}`, t(`cbs.${cb.state}`)));
      // called_at stays set once the call is over (done, failed): only a claimed callback's call is on.
      if (cb.state === "claimed" && cb.called_at) state.append(el("div", "muted small", t("cbp.calling")));
      const actions = el("td", "actions");
      if (OPEN.has(cb.state)) {
        const bt = el("button", "btn tiny danger", t("cbp.cancel"));
        bt.type = "button";
        bt.addEventListener("click", () => askCancel(cb));
        actions.append(bt);
      }
      tr.append(el("td", "", cb.customer_name || "—"), el("td", "num", cb.number),
        el("td", "", cb.queue || t("cbp.personal", { a: cb.agent_id || "?" })), due, state,
        el("td", "num", `${cb.attempts}/${cb.max_attempts}`), el("td", "", cb.claimed_by || "—"),
        el("td", "small note", cb.note || ""), actions);
      body.append(tr);
    }
  }
  async function load() {
    const mine = ++seq;  // a slow answer to an older filter must not overwrite a newer one
    const p = params();
    $("csv-link").href = `/api/supervisor/callbacks?${params({ format: "csv" })}`;
    try {
      const got = await api("GET", `/api/supervisor/callbacks?${p}`);
      if (mine !== seq) return;
      rows = got;
      render();
    } catch (e) {
      if (mine === seq) $("cb-msg").textContent = t("err", { m: e.message });
    }
  }
  function schedule() {
    clearInterval(timer);
    timer = setInterval(load, EVERY_MS);
  }
  function refresh(ev) {
    if (ev) ev.preventDefault();
    $("cb-msg").textContent = "";
    schedule();
    return load();
  }

  function askCancel(cb) {
    cancelling = cb;
    $("cancel-title").textContent = t("cbp.cancel_title", { n: cb.number, c: cb.customer_name || cb.number });
    $("cancel-reason").value = "";
    $("cancel-dlg").showModal();
  }
  async function onDialogClose() {
    const cb = cancelling;
    cancelling = null;
    const reason = $("cancel-reason").value.trim();
    if (!cb || $("cancel-dlg").returnValue !== "cancel" || !reason) return;
    $("cb-msg").textContent = "…";
    try {
      await api("POST", `/api/supervisor/callbacks/${encodeURIComponent(cb.id)}/cancel`, { reason });
      $("cb-msg").textContent = t("cbp.cancelled", { n: cb.number });
    } catch (e) {
      $("cb-msg").textContent = t("cbp.cancel_failed", { n: cb.number, m: e.message });
    }
    schedule();
    await load();
  }

  S.onLang.push(render);
  window.Sup.start(async () => {
    const q = new URLSearchParams(location.search);
    if (STATES.includes(q.get("state"))) $("f-state").value = q.get("state");
    try {  // the configured queues, for the filter
      const board = await api("GET", "/api/supervisor/wallboard");
      board.queues.forEach((x) => addQueue(x.queue));
    } catch (_) { /* the list still works without them, unfiltered */ }
    const wanted = q.get("queue");
    if (wanted && [...$("f-queue").options].some((o) => o.value === wanted)) $("f-queue").value = wanted;
    $("cb-form").addEventListener("submit", refresh);
    $("f-state").addEventListener("change", refresh);
    $("f-queue").addEventListener("change", refresh);
    $("cancel-dlg").addEventListener("close", onDialogClose);
    refresh();
  });
})();
