/* User administration (administrators): the list (with the phone each user rings), a create form, deactivate/reactivate, role and
   password reset, a supervisor's queues, a desk phone's new password (a locked phone, its user
   deactivated once, waits for one; shown once), through /api/admin/users (docs/api.md, "Users"). The queues
   offered are the configured ones (the administrator's wallboard: every queue of config/queues.yaml);
   a supervisor with none selected oversees every queue (docs/security.md). */
"use strict";
(() => {
  const { $, S, t, api, el } = window.Sup;
  let users = [];
  let queues = [];  // the configured queues, as the administrator's wallboard lists them
  const say = (text, bad) => { $("us-msg").textContent = text; $("us-msg").classList.toggle("bad", !!bad); };

  function skillsOf(text) {  // "billing=4, zh=5"; a skill without its level is refused, not guessed
    const out = {};
    for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
      const [name, level] = part.split("=").map((s) => s.trim());
      if (!/^[1-9][0-9]*$/.test(level || "")) throw new Error(t("us.skill_level", { s: name }));
      out[name] = Number(level);
    }
    return out;
  }
  const skillsText = (skills) => Object.entries(skills || {}).map(([k, v]) => `${k}=${v}`).join(", ");

  async function act(label, work) {
    try { await work(); say(label); await load(); } catch (e) { say(t("err", { m: e.message }), true); }
  }

  function queueSelect(chosen) {
    const sel = el("select");
    sel.multiple = true;
    sel.size = Math.min(4, Math.max(2, queues.length));
    for (const q of new Set([...queues, ...chosen])) {
      const o = el("option", "", q); o.value = q; o.selected = chosen.includes(q); sel.append(o);
    }
    return sel;
  }
  const chosenOf = (sel) => [...sel.selectedOptions].map((o) => o.value);

  function queuesCell(u) {
    const td = el("td");
    if (u.role !== "supervisor") { td.textContent = t("us.allqueues"); return td; }
    const sel = queueSelect(u.queues || []);
    sel.dataset.act = "queues";
    const note = el("div", "muted", (u.queues || []).length ? "" : t("us.allqueues"));
    sel.addEventListener("change", () => act(t("us.queueschanged", { u: u.username }),
      () => api("PATCH", `/api/admin/users/${u.id}`, { queues: chosenOf(sel) })));
    td.append(sel, note);
    return td;
  }

  // The phone the user rings: their extension, else their agent id (agent_console/users_http.py's
  // desk_phone is that phone when it is one of this PBX's: 1001.., pbx.agent_endpoints).
  function phoneCell(u) {
    const td = el("td");
    td.dataset.col = "phone";
    const phone = u.extension || u.agent_id;
    if (!phone) { td.textContent = "—"; return td; }
    td.append(phone);
    if (!u.extension) td.append(" ", el("span", "muted", t("us.phone_agent")));
    if (!u.desk_phone) td.append(el("div", "bad", t("us.nophone")));
    return td;
  }

  function row(u) {
    const tr = el("tr");
    tr.dataset.user = u.username;
    const tools = el("td");
    const toggle = el("button", "btn tiny", t(u.active ? "us.deactivate" : "us.activate"));
    toggle.dataset.act = "toggle";
    toggle.addEventListener("click", () => act(t(u.active ? "us.deactivated" : "us.activated", { u: u.username }),
      () => api("PATCH", `/api/admin/users/${u.id}`, { active: !u.active })));
    const reset = el("button", "btn tiny", t("us.reset"));
    reset.dataset.act = "reset";
    reset.addEventListener("click", () => {
      const pw = prompt(t("us.newpw", { u: u.username }));
      if (pw) act(t("us.resetdone", { u: u.username }), () => api("POST", `/api/admin/users/${u.id}/password`, { password: pw }));
    });
    const role = el("select");
    role.dataset.act = "role";
    for (const r of ["agent", "supervisor", "manager", "admin"]) {
      const o = el("option", "", r); o.value = r; o.selected = r === u.role; role.append(o);
    }
    role.addEventListener("change", () => act(t("us.changed", { u: u.username }),
      () => api("PATCH", `/api/admin/users/${u.id}`, { role: role.value })));
    tools.append(toggle, reset);
    if (u.desk_phone && u.active) {
      const desk = el("button", "btn tiny", t("us.desk"));
      desk.dataset.act = "desk";
      desk.addEventListener("click", async () => {
        try {  // shown once, here: the server keeps no copy anyone can read back
          const r = await api("POST", `/api/admin/users/${u.id}/desk-password`);
          await load();
          say(t("us.deskdone", { u: u.username, e: r.username, p: r.password }));
        } catch (e) { say(t("err", { m: e.message }), true); }
      });
      tools.append(desk);
    }
    const state = el("td", u.active ? "" : "bad", t(u.active ? "us.active" : "us.inactive"));
    if (u.desk_locked) state.append(el("div", "bad", t("us.desklocked", { e: u.desk_phone })));
    const roleCell = el("td"); roleCell.append(role);
    tr.append(el("td", "", u.username), el("td", "", u.display_name), roleCell, el("td", "", u.agent_id || "—"),
      phoneCell(u), el("td", "", skillsText(u.skills) || "—"), queuesCell(u),
      state, tools);
    return tr;
  }

  function render() { $("users").tBodies[0].replaceChildren(...users.map(row)); }
  async function load() { users = await api("GET", "/api/admin/users"); render(); }

  async function create(ev) {
    ev.preventDefault();
    const username = $("u-username").value.trim();
    await act(t("us.created", { u: username }), async () => {
      const body = { username, password: $("u-password").value, role: $("u-role").value,
        display_name: $("u-name").value.trim(), skills: skillsOf($("u-skills").value) };
      if ($("u-agent").value.trim()) body.agent_id = $("u-agent").value.trim();
      if ($("u-extension").value.trim()) body.extension = $("u-extension").value.trim();
      if (body.role === "supervisor") body.queues = chosenOf($("u-queues"));
      await api("POST", "/api/admin/users", body);
      $("us-form").reset();
    });
  }

  S.onLang.push(render);
  window.Sup.start(() => {
    if (S.me.role !== "admin") { $("main").hidden = true; $("forbidden").hidden = false; return; }
    $("us-form").addEventListener("submit", create);
    const roleShown = () => { $("u-queues-label").hidden = $("u-role").value !== "supervisor"; };
    $("u-role").addEventListener("change", roleShown);
    roleShown();
    api("GET", "/api/supervisor/wallboard").then((board) => {
      queues = board.queues.map((q) => q.queue);
      $("u-queues").replaceChildren(...queueSelect([]).children);
    }).catch(() => {}).finally(() => load().catch((e) => say(t("err", { m: e.message }), true)));
  });
})();
