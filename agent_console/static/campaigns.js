/* Outbound campaigns for supervisors: every campaign with its progress and the dialer's live figures
   (GET /api/campaigns, then GET /api/campaigns/{id} each), read again every 3 s; start, pause, resume and
   stop (POST /api/campaigns/{id}/{command}; the server's refusal is shown on the page); a form creates
   a draft campaign (POST /api/campaigns) with a queue, mode and caller ID among those the server offers
   (GET /api/campaigns/options: the caller IDs are the trunks' own numbers, nothing else is accepted). */
"use strict";
(() => {
  const { $, S, t, api, el, pct } = window.Sup;
  // Only supervisors and admins run campaigns (campaigns.manage, policy.py): a manager sees no commands.
  const mayManage = () => ["supervisor", "admin"].includes(S.me && S.me.role);
  const EVERY_MS = 3000;
  // Which commands a campaign in each state offers (the server's state machine refuses the others).
  const COMMANDS = { draft: ["start", "stop"], running: ["pause", "stop"], paused: ["resume", "stop"] };
  let rows = [], timer = null, uploadTo = null;

  function outcomes(o) {
    return Object.entries(o || {}).map(([k, v]) => `${k} ${v}`).join(", ") || "—";
  }
  function render() {
    const body = $("campaigns").querySelector("tbody");
    body.replaceChildren();
    $("cmp-empty").hidden = rows.length > 0;
    for (const c of rows) {
      const tr = el("tr");
      tr.dataset.id = c.id;
      tr.dataset.state = c.state;
      const live = c.live || {};
      const done = c.total - c.remaining;
      const drop = el("td", "num", `${live.drop_rate === undefined ? "—" : (live.drop_rate * 100).toFixed(1) + "%"} / ${pct(c.drop_cap)}`);
      if (live.drop_rate !== undefined && live.drop_rate >= c.drop_cap) drop.classList.add("late");
      const actions = el("td", "actions");
      actions.hidden = !mayManage();
      for (const cmd of mayManage() ? COMMANDS[c.state] || [] : []) {
        const bt = el("button", `btn tiny ${cmd === "stop" ? "danger" : ""}`, t(`cmp.${cmd}`));
        bt.type = "button";
        bt.dataset.command = cmd;
        bt.addEventListener("click", () => command(c, cmd));
        actions.append(bt);
      }
      if (mayManage() && COMMANDS[c.state]) {  // a stopped or completed campaign dials no more contacts
        const up = el("button", "btn tiny", t("cmp.contacts"));
        up.type = "button";
        up.addEventListener("click", () => { uploadTo = c; $("cmp-file").value = ""; $("cmp-file").click(); });
        actions.append(up);
      }
      tr.append(el("td", "", c.name), el("td", "", c.mode), el("td", "state", c.state),
        el("td", "num progress", `${done} / ${c.total}`), el("td", "num", c.contacts_last_hour),
        el("td", "num level", live.dial_level === undefined ? "—" : live.dial_level.toFixed(2)),
        el("td", "num", live.agents === undefined ? "—" : `${live.agents} (${live.agents_idle})`),
        el("td", "num", pct(live.occupancy)), drop, el("td", "small outcomes", outcomes(c.outcomes)), actions);
      body.append(tr);
    }
  }
  async function load() {
    clearTimeout(timer);
    try {
      const list = await api("GET", "/api/campaigns");
      rows = await Promise.all(list.map((c) => api("GET", `/api/campaigns/${c.id}`)));
      render();
    } catch (e) {
      $("cmp-msg").textContent = t("err", { m: e.message });
    }
    timer = setTimeout(load, EVERY_MS);
  }
  function option(value, text) {
    const o = el("option", "", text);
    o.value = value;
    return o;
  }
  async function loadOptions() {
    try {
      const o = await api("GET", "/api/campaigns/options");
      $("cmp-queue").replaceChildren(...o.queues.map((q) => option(q, q)));
      $("cmp-mode").replaceChildren(...o.modes.map((m) => option(m, t(`cmp.mode_${m}`))));
      $("cmp-mode").value = "progressive";
      const cid = $("cmp-caller-id");
      cid.replaceChildren(cid.options[0], ...o.caller_ids.map((n) => option(n, n)));
    } catch (e) {
      $("cmp-msg").textContent = t("err", { m: e.message });
    }
  }
  async function create(ev) {
    ev.preventDefault();
    const body = { name: $("cmp-name").value.trim(), queue: $("cmp-queue").value, mode: $("cmp-mode").value,
      caller_id: $("cmp-caller-id").value || null, timezone: $("cmp-timezone").value.trim() || "UTC",
      script: $("cmp-script").value };
    try {
      const c = await api("POST", "/api/campaigns", body);
      $("cmp-msg").textContent = t("cmp.created", { n: c.name });
      $("cmp-form").reset();
    } catch (e) {
      $("cmp-msg").textContent = t("cmp.failed", { n: body.name, m: e.message });
    }
    await load();
  }
  // Contacts as the CSV file chosen (UTF-8, a number column; docs/outbound.md): added all or none,
  // a refusal names every bad line (the header is line 1).
  async function upload() {
    const c = uploadTo, file = $("cmp-file").files[0];
    if (!c || !file) return;
    $("cmp-msg").textContent = "…";
    try {
      const r = await fetch(`/api/campaigns/${c.id}/contacts.csv`, { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "text/csv" }, body: file });
      let data = null;
      try { data = await r.json(); } catch (_) { /* empty body */ }
      if (r.ok) {
        $("cmp-msg").textContent = t("cmp.uploaded", { n: c.name, f: file.name, a: data.added, d: data.duplicates });
      } else {
        const d = (data && data.detail) || {};
        const lines = (d.errors || []).map((e) => t("cmp.bad_row", { r: e.row, f: e.field, m: e.message }));
        $("cmp-msg").textContent = t("cmp.refused", { n: c.name, f: file.name,
          m: lines.length ? lines.join("; ") : (d.message || r.statusText) });
      }
    } catch (e) {
      $("cmp-msg").textContent = t("cmp.failed", { n: c.name, m: e.message });
    }
    await load();
  }
  async function command(c, cmd) {
    try {
      const got = await api("POST", `/api/campaigns/${c.id}/${cmd}`);
      $("cmp-msg").textContent = t("cmp.done", { n: c.name, s: got.state });
    } catch (e) {
      $("cmp-msg").textContent = t("cmp.failed", { n: c.name, m: e.message });
    }
    await load();
  }
  function renderForm() {
    $("cmp-name").title = t("cmp.name_hint");
    for (const o of $("cmp-mode").options) o.textContent = t(`cmp.mode_${o.value}`);
  }
  window.Sup.S.onLang.push(render, renderForm);
  window.Sup.start(() => {
    $("campaigns").querySelector('th[data-i18n="a.actions"]').hidden = !mayManage();
    $("cmp-form").hidden = !mayManage();
    if (mayManage()) {
      $("cmp-form").addEventListener("submit", create);
      $("cmp-file").addEventListener("change", upload);
      loadOptions().then(renderForm);
    }
    load();
  });
})();
