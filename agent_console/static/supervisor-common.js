/* Shared by the supervisor pages: i18n, REST helper, who is logged in, the top bar. No external resources;
   everything from the server is rendered with textContent. */
"use strict";
window.Sup = (() => {
  const $ = (id) => document.getElementById(id);
  const saved = localStorage.getItem("cti.lang");
  const S = { lang: saved || (navigator.language && navigator.language.toLowerCase().startsWith("zh") ? "zh-CN" : "en"),
    me: null, onLang: [] };
  function t(key, vars) {
    const dict = window.SUP_I18N[S.lang] || window.SUP_I18N.en;
    const console = window.I18N || {};  // the softphone's strings (i18n.js) on the wallboard
    let s = dict[key] ?? window.SUP_I18N.en[key] ?? (console[S.lang] || {})[key] ?? (console.en || {})[key] ?? key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, v);
    return s;
  }
  function applyI18n() {
    document.documentElement.lang = S.lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    const title = document.body.dataset.title;
    if (title) document.title = t(title);
    S.onLang.forEach((f) => f());
  }
  function setLang(lang) { S.lang = lang; localStorage.setItem("cti.lang", lang); applyI18n(); }
  async function api(method, path, body) {
    const r = await fetch(path, { method, credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
    let data = null;
    try { data = await r.json(); } catch (_) { /* empty body */ }
    if (!r.ok) {
      const d = (data && data.detail) || {};
      const err = new Error(d.message || r.statusText);
      err.status = r.status; err.code = d.code;
      throw err;
    }
    return data;
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  const pct = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 100)}%`);
  const secs = (v) => (v === null || v === undefined ? "—" : `${Math.round(v)} s`);
  function dur(s) {
    if (s === null || s === undefined) return "—";
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = String(m).padStart(2, "0"), rr = String(r).padStart(2, "0");
    return h ? `${h}:${mm}:${rr}` : `${m}:${rr}`;
  }
  async function start(onReady) {
    document.querySelectorAll(".lang-toggle").forEach((b) => b.addEventListener("click",
      () => setLang(S.lang === "en" ? "zh-CN" : "en")));
    const out = $("btn-logout");
    if (out) out.addEventListener("click", async () => {
      try { await api("POST", "/api/auth/logout"); } catch (_) { /* already gone */ }
      location.href = "/";
    });
    applyI18n();
    try { S.me = await api("GET", "/api/me"); } catch (e) { location.href = "/"; return; }
    $("who-name").textContent = S.me.display_name || S.me.username;
    if (S.me.role === "agent") { $("forbidden").hidden = false; return; }
    $("main").hidden = false;
    onReady();
  }
  return { $, S, t, api, el, pct, secs, dur, start, applyI18n };
})();
