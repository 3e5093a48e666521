/* The live wallboard: snapshots from /ws/supervisor (about once a second), alerts with acknowledge,
   interventions on agents through /api/supervisor. Time in state ticks locally between snapshots. */
"use strict";
(() => {
  const { $, S, t, api, el, pct, secs, dur } = window.Sup;
  const W = { board: null, ws: null, retry: 0, skew: 0 };
  // A wallboard is watched, not clicked: shown, it keeps its session (up to web.session_max_hours).
  if (window.ctiSession) window.ctiSession.busy = () => document.visibilityState === "visible";
  // Interventions (spy, not ready, logout, skills) are the floor's: supervisors and admins (policy.py);
  // a manager sees the board without them (the server would refuse them with 403).
  const mayIntervene = () => ["supervisor", "admin"].includes(S.me && S.me.role);

  // The bar cuts a long phone status with an ellipsis (supervisor.css): its tooltip holds it whole
  // (phone.js gives the pill the error's detail as its title, else none).
  const pill = $("phone-status");
  if (pill) {
    new MutationObserver(() => { if (!pill.title) pill.title = pill.textContent; })
      .observe(pill, { childList: true, characterData: true, subtree: true });
  }

  function setConn(on) {
    const c = $("conn");
    c.className = on ? "wb-conn on" : "wb-conn off";
    c.dataset.i18n = on ? "wb.live" : "wb.offline";
    c.textContent = t(c.dataset.i18n);
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws/supervisor`);
    W.ws = ws;
    ws.onopen = () => { W.retry = 0; setConn(true); };
    ws.onmessage = (m) => {
      let f;
      try { f = JSON.parse(m.data); } catch (_) { return; }
      if (f.type === "wallboard") { W.skew = Date.now() / 1000 - f.ts; W.board = f; render(); }
      else if (f.type === "alert" || f.type === "acked") { if (W.board) api("GET", "/api/supervisor/alerts").then((a) => { W.board.alerts = a.active; renderAlerts(); }).catch(() => {}); }
      else if (f.type === "security_alert") { window.Sup.addSecurity([f.event]); }
      else if (f.type === "error") { $("act-msg").textContent = t("err", { m: f.message }); }
    };
    ws.onclose = (ev) => {
      setConn(false);
      if (ev.code === 1008) { location.href = "/"; return; }
      W.retry = Math.min(W.retry + 1, 6);
      // A refused handshake reads as 1006 here, like a network drop: ask whether the session still
      // holds (ended elsewhere: the login page) before trying again (the server away: try again).
      setTimeout(() => {
        api("GET", "/api/auth/session")
          .then((s) => { if (s && s.principal) connect(); else location.href = "/"; })
          .catch(() => connect());
      }, 500 * 2 ** W.retry);
    };
  }

  function render() {
    const b = W.board;
    if (!b) return;
    const tot = b.totals;
    $("tot-waiting").textContent = tot.waiting;
    $("tot-ringing").textContent = tot.ringing;
    $("tot-talking").textContent = tot.talking;
    $("tot-longest").textContent = dur(tot.longest_wait_s);
    $("tot-longest").classList.toggle("bad", tot.longest_wait_s > 60);
    // Which figures cover the window and which the whole day: every tile and column says so.
    const win = t("wb.window", { m: b.window_min });
    document.querySelectorAll("[data-win]").forEach((e) => { e.textContent = win; });
    document.querySelectorAll("[data-offered-label]").forEach((e) => { e.textContent = `${win} / ${t("wb.today")}`; });
    $("tot-sl").textContent = pct(tot.window.service_level);
    $("tot-sl").classList.toggle("bad", tot.window.service_level !== null && tot.window.service_level < 0.8);
    $("tot-sl-today").textContent = pct(tot.today.service_level);
    $("tot-asa").textContent = secs(tot.window.asa_s);
    $("tot-abandon").textContent = pct(tot.window.abandon_rate);
    $("tot-aht").textContent = dur(tot.window.aht_s);
    $("tot-fcr").textContent = pct(tot.today.fcr);
    const cb = tot.callbacks || {};
    $("tot-cb-due").textContent = cb.due || 0;
    $("tot-cb-overdue").textContent = cb.overdue || 0;
    $("tot-cb-overdue").classList.toggle("bad", (cb.overdue || 0) > 0);
    $("tot-cb-claimed").textContent = cb.claimed || 0;
    const off = (tot.agents && tot.agents.phone_offline) || 0;  // available, but their phone is unreachable
    $("tot-phone-offline").textContent = off;
    $("tot-phone-offline").classList.toggle("bad", off > 0);
    // Which agents, and why: logged in and ready, but their phone is not connected (their console is
    // closed, e.g. the browser shut while they stayed logged in across an engine restart, or a desk
    // phone is off). They stay logged in until they come back or are logged out (their row's Log out).
    const offline = b.agents.filter((a) => a.state === "available" && a.phone_offline);
    const who = $("phone-offline-who");
    who.hidden = offline.length === 0;
    who.replaceChildren();
    if (offline.length) {
      who.append(el("b", "", `${t("k.phone_offline")}: `),
        offline.map((a) => a.name ? `${a.agent_id} ${a.name}` : a.agent_id).join(" · "),
        el("span", "muted", ` — ${t("wb.phone_offline_why")}`));
    }
    $("tile-phone-offline").title = offline.length ? t("a.phone_offline_hint") : "";
    renderQueues(b);
    renderWaiting(b);
    renderAgents(b);
    renderAlerts();
  }

  function renderQueues(b) {
    const body = $("queues").querySelector("tbody");
    body.replaceChildren();
    for (const q of b.queues) {
      const tr = el("tr");
      tr.dataset.queue = q.queue;
      const name = el("td");
      name.append(el("b", "", q.queue), el("div", "muted small", t("q.target", { p: pct(q.sl_target), s: q.sl_seconds })));
      const sl = el("td", "num", `${pct(q.window.service_level)} / ${pct(q.today.service_level)}`);
      if (q.window.service_level !== null && q.window.service_level < q.sl_target) sl.classList.add("bad");
      const ag = q.agents || {};
      const waiting = el("td", "num waiting", q.waiting);
      if (q.virtual_waiting) {  // virtual hold: callers to call back at their turn, counted apart
        const vh = el("div", "muted small virtual-waiting", t("q.virtual", { n: q.virtual_waiting }));
        waiting.append(vh);
      }
      tr.append(name, waiting, el("td", "num talking", q.talking),
        el("td", "num", dur(q.longest_wait_s)), sl, el("td", "num", secs(q.window.asa_s)),
        el("td", "num", pct(q.window.abandon_rate)), el("td", "num", dur(q.window.aht_s)),
        el("td", "num", pct(q.today.fcr)), el("td", "num", `${q.window.offered} / ${q.today.offered}`),
        agentsCell(ag), callbackCell(q.callbacks || {}));
      body.append(tr);
    }
  }

  // The callers waiting now (waiting_calls): queue by queue, next first; the wait ticks locally from
  // the first queue entry, as the longest wait. The queue picker narrows the list to one queue.
  function renderWaiting(b) {
    const pick = $("waiting-queue");
    const names = b.queues.map((q) => q.queue);
    if ([...pick.options].slice(1).map((o) => o.value).join() !== names.join()) {
      const chosen = pick.value;
      pick.replaceChildren(pick.options[0], ...names.map((n) => { const o = el("option", "", n); o.value = n; return o; }));
      pick.value = names.includes(chosen) ? chosen : "";
    }
    const rows = (b.waiting_calls || []).filter((w) => !pick.value || w.queue === pick.value);
    const body = $("waiting").querySelector("tbody");
    body.replaceChildren();
    const now = Date.now() / 1000 - W.skew;
    for (const w of rows) {
      const tr = el("tr");
      tr.dataset.queue = w.queue;
      tr.dataset.position = w.position;
      const caller = el("td", "caller", w.caller_number || t("wq.withheld"));
      if (w.virtual) caller.append(" ", el("span", "pill virtual", t("wq.virtual")));
      const waited = el("td", "num tick waited", dur(now - w.since));
      waited.dataset.since = w.since;
      waited.classList.toggle("bad", now - w.since > 60);
      tr.dataset.linkedid = w.linkedid;
      tr.append(el("td", "", w.queue), el("td", "num position", w.position), caller, waited,
        el("td", "num priority", w.priority ? w.priority : t("a.none")));
      const move = el("td", "actions move-col");
      move.hidden = !mayIntervene();
      // A virtual-hold entry has nobody on the line to move (the server answers 409).
      if (mayIntervene() && !w.virtual) move.append(actionButton("mv.move", "move", () => moveCaller(w, b)));
      tr.append(move);
      body.append(tr);
    }
    $("waiting-none").hidden = rows.length > 0;
    $("waiting").hidden = rows.length === 0;
    $("waiting-count").textContent = rows.length ? `(${rows.length})` : "";
  }

  // Move a waiting caller to another queue: a dialog offering the board's other queues; the
  // server's answer (or refusal: ringing an agent meanwhile, answered, not one of your queues) below the card.
  function moveCaller(w, b) {
    $("move-title").textContent = t("mv.title", { c: w.caller_number || t("wq.withheld"), q: w.queue });
    const pick = $("move-queue");
    pick.replaceChildren(...b.queues.map((q) => q.queue).filter((n) => n !== w.queue)
      .map((n) => { const o = el("option", "", n); o.value = n; return o; }));
    const dlg = $("move-dlg");
    dlg.onclose = async () => {
      if (dlg.returnValue !== "move" || !pick.value) return;
      const to = pick.value;
      $("move-msg").textContent = "…";
      try {
        await api("POST", `/api/supervisor/calls/${encodeURIComponent(w.linkedid)}/move`, { queue: to });
        $("move-msg").textContent = t("mv.done", { c: w.caller_number || t("wq.withheld"), q: to });
      } catch (e) { $("move-msg").textContent = t("err", { m: e.message }); }
    };
    dlg.returnValue = "";
    dlg.showModal();
  }

  function agentsCell(ag) {
    const td = el("td", "small agents");
    const off = el("span", (ag.phone_offline || 0) > 0 ? "bad phone-offline" : "phone-offline",
      `${t("state.phone_offline")} ${ag.phone_offline || 0}`);
    td.append(`${t("state.available")} ${ag.available || 0} · ${t("state.on_call")} ${(ag.on_call || 0) + (ag.reserved || 0)} · ${t("state.wrap_up")} ${ag.wrap_up || 0} · ${t("state.not_ready")} ${ag.not_ready || 0} · `, off);
    return td;
  }

  function callbackCell(cb) {
    const td = el("td", "small callbacks");
    const late = el("span", (cb.overdue || 0) > 0 ? "bad" : "", `${t("cb.overdue")} ${cb.overdue || 0}`);
    td.append(`${t("cb.due")} ${cb.due || 0} · `, late, ` · ${t("cb.claimed")} ${cb.claimed || 0}`);
    return td;
  }

  function actionButton(key, cls, fn) {
    const bt = el("button", `btn tiny ${cls}`, t(key));
    bt.type = "button";
    bt.addEventListener("click", fn);
    return bt;
  }
  async function act(label, method, path, body) {
    $("act-msg").textContent = "…";
    try { await api(method, path, body); $("act-msg").textContent = t("act.done", { a: label }); }
    catch (e) {
      // A supervisor's phone that did not answer a listen / whisper / barge is no fault: nothing was
      // started, and the line says so as information.
      $("act-msg").textContent = e.code === "phone_no_answer" ? t("act.phone_no_answer") : t("err", { m: e.message });
    }
  }
  function spy(agent, mode) {
    const phone = $("my-phone").value.trim();
    localStorage.setItem("cti.sup.phone", phone);
    act(`${t("act." + mode)} ${agent}`, "POST", `/api/supervisor/agents/${encodeURIComponent(agent)}/spy`,
      phone ? { mode, phone } : { mode });
  }
  function editSkills(a) {
    $("skills-title").textContent = t("act.skills_title", { a: a.agent_id });
    $("skills-text").value = Object.entries(a.skills).map(([k, v]) => `${k}=${v}`).join("\n");
    const dlg = $("skills-dlg");
    dlg.onclose = () => {
      if (dlg.returnValue !== "save") return;
      const skills = {};
      for (const line of $("skills-text").value.split("\n")) {
        const [k, v] = line.split("=").map((x) => (x || "").trim());
        if (k) skills[k] = Number(v);
      }
      act(`${t("act.skills")} ${a.agent_id}`, "PUT", `/api/supervisor/agents/${encodeURIComponent(a.agent_id)}/skills`, { skills });
    };
    dlg.showModal();
  }

  // Not-ready reasons: the console's words (i18n.js), the code itself for one it does not know.
  function reasonLabel(code) {
    if (!code) return "";
    const s = t(`reason.${code}`);
    return s === `reason.${code}` ? code : s;
  }
  function renderAgents(b) {
    const body = $("agents").querySelector("tbody");
    body.replaceChildren();
    const now = Date.now() / 1000 - W.skew;
    for (const a of b.agents) {
      const tr = el("tr", `st-${a.state}`);
      tr.dataset.agent = a.agent_id;
      const who = el("td");
      who.append(el("b", "", a.agent_id), el("div", "muted small", a.name));
      const state = el("td");
      // Available in the ACD, but the phone is unreachable (console closed, softphone unregistered): offered nothing.
      const shown = a.state === "available" && a.phone_offline ? "phone_offline" : a.state;
      state.append(el("span", `pill st-${shown}`, t(`state.${shown}`)));
      const time = el("td", "num tick", a.since ? dur(now - a.since) : "—");
      if (a.since) time.dataset.since = a.since;
      const call = el("td", "small");
      if (a.call) call.append(el("div", "", `${a.call.queue || ""} · ${a.call.caller_number}`),
        el("div", "muted tick", dur(now - a.call.since)));
      else call.textContent = t("a.none");
      if (a.call && a.call.since) call.lastChild.dataset.since = a.call.since;
      const actions = el("td", "actions");
      actions.hidden = !mayIntervene();
      if (mayIntervene()) {
        const talking = a.call && (a.call.status === "talking" || a.call.status === "held");
        for (const mode of ["listen", "whisper", "barge"]) {
          const bt = actionButton(`act.${mode}`, "", () => spy(a.agent_id, mode));
          bt.disabled = !talking;
          actions.append(bt);
        }
        const nr = actionButton("act.not_ready", "warn", () => act(`${t("act.not_ready")} ${a.agent_id}`, "POST",
          `/api/supervisor/agents/${encodeURIComponent(a.agent_id)}/not-ready`, { reason: "supervisor" }));
        // A not ready asked for during a call applies after it (the row says so): nothing more to ask.
        nr.disabled = a.state === "logged_out" || a.state === "not_ready" || !!a.not_ready_after_call;
        const lo = actionButton("act.logout", "danger", () => act(`${t("act.logout")} ${a.agent_id}`, "POST",
          `/api/supervisor/agents/${encodeURIComponent(a.agent_id)}/logout`));
        // Between calls, or while a call rings them (the offer is withdrawn, the caller waits again).
        lo.disabled = !(a.state === "available" || a.state === "not_ready" || a.state === "reserved");
        const sk = actionButton("act.skills", "", () => editSkills(a));
        sk.disabled = a.state === "logged_out";  // the router knows an agent's skills from its login on
        actions.append(nr, lo, sk);
      }
      const reason = a.not_ready_after_call ? t("a.nr_after", { r: reasonLabel(a.not_ready_after_call) })
        : shown === "phone_offline" ? t("a.phone_offline_hint") : reasonLabel(a.reason);
      tr.append(who, state, el("td", "small", reason), time, call, el("td", "num", a.handled_today), actions);
      body.append(tr);
    }
  }

  // How far past its limit an alert is, in the rule's unit (the value is re-read at every evaluation).
  function long(s) {
    if (s < 86400) return dur(s);
    return t("al.days", { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
  }
  function figure(al) {
    if (al.kind === "sl_below") return t("al.fig_target", { v: pct(al.value), th: pct(al.threshold) });
    if (al.kind === "abandon_rate_above") return t("al.fig_limit", { v: pct(al.value), th: pct(al.threshold) });
    if (al.kind === "waiting_above") return t("al.fig_waiting", { v: Math.round(al.value), th: al.threshold });
    if (al.kind === "case_overdue") return t("al.fig_overdue", { v: long(al.value) });
    return t("al.fig_limit", { v: long(al.value), th: long(al.threshold) });  // longest wait, not ready
  }
  function renderAlerts() {
    const list = $("alerts");
    list.replaceChildren();
    const alerts = (W.board && W.board.alerts) || [];
    $("alerts-none").hidden = alerts.length > 0;
    $("alert-count").textContent = alerts.length ? `(${alerts.length})` : "";
    for (const al of alerts) {
      const li = el("li", `alert ${al.state} lvl-${al.level}`);
      li.dataset.alert = al.alert_id;
      li.append(el("div", "al-kind", t(`kind.${al.kind}`)), el("div", "al-subject", al.subject),
        el("div", "al-figure small", figure(al)),
        el("div", "muted small", `${t("al.to", { r: t("role." + al.role) })} · ${t("al.since", { t: window.Sup.when(al.raised_at, false) })}`));
      if (al.state === "acknowledged") li.append(el("div", "small", t("al.acked", { b: al.acknowledged_by })));
      else li.append(actionButton("al.ack", "primary", () => {
        if (W.ws && W.ws.readyState === 1) W.ws.send(JSON.stringify({ type: "ack", alert_id: al.alert_id }));
      }));
      list.append(li);
    }
  }

  // The callback tiles open the callback list (/callbacks) on the state they count.
  const CB_TILES = { "tot-cb-due": "pending", "tot-cb-overdue": "pending", "tot-cb-claimed": "claimed" };
  function linkCallbackTiles() {
    for (const [id, state] of Object.entries(CB_TILES)) {
      const tile = $(id).closest(".tile");
      const a = el("a", `${tile.className} tile-link`);
      a.href = `/callbacks?state=${state}`;
      a.append(...tile.childNodes);
      tile.replaceWith(a);
    }
    titleCallbackTiles();
  }
  function titleCallbackTiles() {
    document.querySelectorAll("a.tile-link").forEach((a) => { a.title = t("cb.open_list"); });
  }

  function tick() {
    const now = Date.now() / 1000 - W.skew;
    document.querySelectorAll(".tick[data-since]").forEach((e) => { e.textContent = dur(now - Number(e.dataset.since)); });
  }

  S.onLang.push(render, titleCallbackTiles);
  window.Sup.start(() => {
    linkCallbackTiles();
    $("my-phone").value = localStorage.getItem("cti.sup.phone") || "";
    $("my-phone").closest("label").hidden = !mayIntervene();
    $("agents").querySelector('th[data-i18n="a.actions"]').hidden = !mayIntervene();
    $("waiting").querySelector("th.move-col").hidden = !mayIntervene();
    $("spy-stop").addEventListener("click", () => act(t("act.stop"), "POST", "/api/supervisor/spy/stop"));
    $("waiting-queue").addEventListener("change", () => { if (W.board) renderWaiting(W.board); });
    connect();
    setInterval(tick, 1000);
    // The supervisor's browser softphone registers (phone.js): a listen / whisper / barge rings it.
    // Whoever may not intervene (a manager) has no use for it; /api/me says who has no extension
    // (phone: false), so the page does not ask for credentials the server refuses.
    if (mayIntervene()) document.dispatchEvent(new CustomEvent("cti:login", { detail: { ...S.me, phone: S.me.phone !== false } }));
  });
})();
