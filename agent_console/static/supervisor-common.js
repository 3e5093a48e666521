/* Shared by the supervisor pages: i18n, REST helper, who is logged in, the top bar. No external resources;
   everything from the server is rendered with textContent. */
"use strict";
window.Sup = (() => {
  const $ = (id) => document.getElementById(id);
  const saved = localStorage.getItem("cti.lang");
  const S = { lang: saved || (navigator.language && navigator.language.toLowerCase().startsWith("zh") ? "zh-CN" : "en"),
    me: null, tz: "UTC", onLang: [] };
  function t(key, vars) {
    const dict = window.SUP_I18N[S.lang] || window.SUP_I18N.en;
    const console = window.I18N || {};  // the softphone's strings (i18n.js) on the wallboard
    let s = dict[key] ?? window.SUP_I18N.en[key] ?? (console[S.lang] || {})[key] ?? (console.en || {})[key] ?? key;
    // Every occurrence, and the value as it is (String.replace would read $& and $1 in it).
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
    return s;
  }
  // Every time on these pages is the call center's (S.tz, /api/auth/session), the zone the reports
  // count days in, whatever the browser's; the top bar names it.
  function when(epoch, withDate = true) {
    if (epoch === null || epoch === undefined) return "—";
    const opts = { timeZone: S.tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withDate) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
    try { return new Intl.DateTimeFormat(S.lang, opts).format(new Date(epoch * 1000)); } catch (_) {
      return new Date(epoch * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    }
  }
  function applyI18n() {
    document.documentElement.lang = S.lang;
    if ($("tz-note")) $("tz-note").textContent = $("tz-note").title = t("tz.note", { tz: S.tz });
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    const title = document.body.dataset.title;
    if (title) document.title = t(title);
    S.onLang.forEach((f) => f());
    document.dispatchEvent(new CustomEvent("cti:lang"));  // phone.js (the wallboard's softphone) says it again
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
  // Security alerts (refused SIP logins, pushed as security_alert frames and kept in the audit log):
  // a red band at the top of every supervisor page until dismissed in this browser.
  const SEC = { list: [], dismissed: new Set(JSON.parse(localStorage.getItem("cti.sec.dismissed") || "[]")) };
  const secKey = (a) => `${a.remote_address}@${a.at}`;
  function addSecurity(alerts) {
    for (const a of alerts) if (!SEC.list.some((x) => secKey(x) === secKey(a))) SEC.list.push(a);
    SEC.list.sort((x, y) => y.at - x.at);
    renderSecurity();
  }
  function renderSecurity() {
    const main = $("main");
    if (!main) return;
    let box = $("sec-alerts");
    if (!box) {
      box = el("ul", "sec-alerts");
      box.id = "sec-alerts";
      box.setAttribute("role", "alert");
      main.prepend(box);
    }
    box.replaceChildren();
    for (const a of SEC.list.filter((x) => !SEC.dismissed.has(secKey(x)))) {
      const li = el("li", "sec-alert");
      li.dataset.address = a.remote_address;
      li.append(el("span", "sec-title", t("sec.title")),
        el("span", "sec-what", t("sec.auth", { n: a.count, ip: a.remote_address, w: Math.round(a.window_s),
          s: a.service === "AMI" ? "AMI" : "SIP" })));
      if (a.accounts && a.accounts.length) li.append(el("span", "small", t("sec.accounts", { a: a.accounts.join(", ") })));
      li.append(el("span", "muted small", t("sec.at", { t: when(a.at, false) })));
      const btn = el("button", "btn tiny", t("sec.dismiss"));
      btn.type = "button";
      btn.addEventListener("click", () => {
        SEC.dismissed.add(secKey(a));
        localStorage.setItem("cti.sec.dismissed", JSON.stringify([...SEC.dismissed].slice(-50)));
        renderSecurity();
      });
      li.append(btn);
      box.append(li);
    }
    box.hidden = !box.childElementCount;
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
    // 200 logged in or not (/api/me's 401 would land in the browser's console before the redirect).
    let session = null;
    try {
      session = await api("GET", "/api/auth/session");
      S.me = session.principal; S.tz = session.tz || "UTC";
    } catch (e) { S.me = null; }
    if (!S.me) { location.href = "/"; return; }
    if (window.ctiSession) window.ctiSession.start(session, S.tz);  // renewed while used (session.js)
    if ($("tz-note")) $("tz-note").textContent = $("tz-note").title = t("tz.note", { tz: S.tz });
    // The bar cuts a long name with an ellipsis on one line (supervisor.css): the tooltip has it whole.
    $("who-name").textContent = $("who-name").title = S.me.display_name || S.me.username;
    // Users and Integrations are administrators' pages: others would only read "Administrators only."
    if (S.me.role !== "admin") {
      document.querySelectorAll('.snav a[href="/users"], .snav a[href="/integrations"]').forEach((a) => a.remove());
    }
    if (S.me.role === "agent") { $("forbidden").hidden = false; return; }
    $("main").hidden = false;
    S.onLang.push(renderSecurity);
    api("GET", "/api/supervisor/alerts").then((a) => addSecurity(a.security || [])).catch(() => {});
    onReady();
  }
  return { $, S, t, api, el, pct, secs, dur, when, start, applyI18n, addSecurity };
})();
