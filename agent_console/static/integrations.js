/* Integration tokens (administrators): the named tokens with their last use, issue one (a name and
   whether it may download recordings' audio; the token shown once, with a copy button), revoke one
   after a confirmation, through /api/admin/integration-tokens (docs/api.md, "Integration tokens").
   The server keeps only a token's hash: once this page hides it, nobody can show it again. */
"use strict";
(() => {
  const { $, S, t, api, el, when } = window.Sup;
  let tokens = [];
  const say = (text, bad) => { $("it-msg").textContent = text; $("it-msg").classList.toggle("bad", !!bad); };

  function hide() {  // the token leaves the page: no copy of it stays in the DOM
    $("it-token").value = "";
    $("it-new").hidden = true;
  }

  async function copy() {
    const box = $("it-token");
    try {
      await navigator.clipboard.writeText(box.value);
      say(t("it.copied"));
    } catch (_) {  // no clipboard access (an insecure origin, a refused permission): select it for Ctrl+C
      box.focus(); box.select();
      say(t("it.copy_by_hand"), true);
    }
  }

  function row(tk) {
    const tr = el("tr");
    tr.dataset.token = String(tk.id);
    tr.dataset.name = tk.name;
    const state = el("td", tk.active ? "" : "bad",
      tk.active ? t("it.active") : t("it.revoked", { u: tk.revoked_by || "—", t: when(tk.revoked_at) }));
    const tools = el("td", "actions");
    if (tk.active) {
      const revoke = el("button", "btn tiny", t("it.revoke"));
      revoke.dataset.act = "revoke";
      revoke.addEventListener("click", async () => {
        if (!confirm(t("it.confirm", { n: tk.name }))) return;
        try {
          await api("DELETE", `/api/admin/integration-tokens/${tk.id}`);
          say(t("it.revoked_msg", { n: tk.name }));
          await load();
        } catch (e) { say(t("err", { m: e.message }), true); }
      });
      tools.append(revoke);
    }
    tr.append(el("td", "", tk.name), el("td", "", `${tk.hint}…`), el("td", "", t(tk.audio ? "it.yes" : "it.no")),
      el("td", "", `${when(tk.created_at)} · ${tk.created_by}`),
      el("td", "", tk.last_used_at === null ? t("it.never") : when(tk.last_used_at)), state, tools);
    return tr;
  }

  function render() { $("tokens").tBodies[0].replaceChildren(...tokens.map(row)); }
  async function load() { tokens = await api("GET", "/api/admin/integration-tokens"); render(); }

  async function issue(ev) {
    ev.preventDefault();
    const name = $("it-name").value.trim();
    try {
      const made = await api("POST", "/api/admin/integration-tokens", { name, audio: $("it-audio").checked });
      $("it-token").value = made.token;
      $("it-new").hidden = false;
      $("it-form").reset();
      say(t("it.issued", { n: made.name }));
      await load();
    } catch (e) { say(t("err", { m: e.message }), true); }
  }

  S.onLang.push(render);
  window.Sup.start(() => {
    if (S.me.role !== "admin") { $("main").hidden = true; $("forbidden").hidden = false; return; }
    $("it-form").addEventListener("submit", issue);
    $("it-copy").addEventListener("click", copy);
    $("it-done").addEventListener("click", () => { hide(); say(""); });
    load().catch((e) => say(t("err", { m: e.message }), true));
  });
})();
