/* Agent console SPA: no build step, no external resources. Talks to /api (REST, cookie session)
   and /ws/agent (protocol v1, docs/websocket-protocol.md). All data is rendered with textContent. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const S = {
    lang: "en", tz: "UTC", me: null, ws: null, wsRetry: 0, replaced: false, clockSkew: 0, phoneKeptFor: null,
    state: null, offer: null, calls: new Map(), catalog: { reasons: [], dispositions: [], queues: [], login_queues: [] },
    focusCall: null, customer: null, pop: null, refSeq: 0, pending: new Map(), browseCustomer: null,
    wrapped: new Map(),  // call_id -> the history row its wrap-up saved (rememberWrapUp)
    cards: new Map(),  // customer id -> the card as this agent last saved it (customerSaved)
  };

  // ---------- i18n ----------
  function t(key, vars) {
    const dict = window.I18N[S.lang] || window.I18N.en;
    let s = dict[key] ?? window.I18N.en[key] ?? key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, v);
    return s;
  }
  function label(prefix, code, fallback) {
    const key = `${prefix}.${code}`;
    const dict = window.I18N[S.lang] || window.I18N.en;
    return dict[key] ?? window.I18N.en[key] ?? fallback ?? code;
  }
  // A server's refusal in the page's language: its stable code's string (i18n.js err.code.*, with the
  // field it names), else (a code this console does not know) the server's own text. The server
  // speaks English, and says more than a code's string can: an English page shows its text.
  function serverError(message, code, field) {
    const key = `err.code.${code}`;
    const dict = window.I18N[S.lang] || window.I18N.en;
    const err = new Error(S.lang === "en" || !code || !(key in dict) ? message
      : field ? t("err.field", { m: dict[key], f: field }) : dict[key]);
    err.code = code; err.field = field; err.serverMessage = message;
    return err;
  }
  function applyI18n() {
    document.documentElement.lang = S.lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    document.querySelectorAll("[data-i18n-label]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nLabel)); });
    document.title = t("app.title");
    fillCatalog();
    renderAll();
    renderSearch();
  }
  function setLang(lang) {
    S.lang = lang;
    localStorage.setItem("cti.lang", lang);
    applyI18n();
    document.dispatchEvent(new CustomEvent("cti:lang"));
  }
  function toggleLang() { setLang(S.lang === "en" ? "zh-CN" : "en"); }

  // ---------- helpers ----------
  const now = () => Date.now() / 1000 + S.clockSkew;
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clock(sec) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    const mm = String(m).padStart(2, "0"), ss = String(s).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }
  function duration(sec) {
    sec = Math.round(sec || 0);
    return sec < 60 ? t("unit.s", { n: sec }) : t("unit.ms", { m: Math.floor(sec / 60), s: sec % 60 });
  }
  function ago(at) {
    const ts = typeof at === "number" ? at : Date.parse(at) / 1000;
    if (!ts) return "";
    const d = now() - ts;
    if (d < 60) return t("ago.now");
    if (d < 3600) return t("ago.min", { n: Math.floor(d / 60) });
    if (d < 86400) return t("ago.h", { n: Math.floor(d / 3600) });
    return t("ago.d", { n: Math.floor(d / 86400) });
  }
  function toast(text, kind) {
    const box = el("div", `toast ${kind || ""}`, text);
    $("toasts").append(box);
    setTimeout(() => box.remove(), kind === "error" ? 6000 : 3500);
  }
  // preview.js (the preview panel) hears of state changes through "cti:state".
  function stateChanged() { document.dispatchEvent(new CustomEvent("cti:state", { detail: S.state })); }
  async function api(method, path, body) {
    const r = await fetch(path, {
      method, credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = null;
    try { data = await r.json(); } catch (_) { /* empty body */ }
    if (!r.ok) {
      const d = (data && data.detail) || {};
      const err = serverError(d.message || r.statusText, d.code, d.field);
      err.status = r.status;
      err.retryAfter = Number(r.headers.get("Retry-After") || 0);
      throw err;
    }
    return data;
  }

  // ---------- recording: pause/resume on the live call, playback in the history ----------
  // (docs/recording.md) The server says whether the call is recorded; only its agent may pause.
  function syncRecording(live) {
    const btn = $("btn-rec");
    if (!live) { btn.hidden = true; S.rec = null; return; }
    if (!S.rec || S.rec.linkedid !== live.call_id) {
      S.rec = { linkedid: live.call_id, state: "off" };
      api("GET", `/api/calls/${encodeURIComponent(live.call_id)}/recording`)
        .then((r) => { if (S.rec && S.rec.linkedid === r.linkedid) { S.rec = r; paintRecording(); } })
        .catch(() => {});
    }
    paintRecording();
  }
  function paintRecording() {
    const btn = $("btn-rec");
    const st = S.rec ? S.rec.state : "off";
    btn.hidden = st === "off";
    btn.firstElementChild.textContent = t(st === "paused" ? "rec.resume" : st === "available" ? "rec.start" : "rec.pause");
    btn.setAttribute("aria-pressed", String(st === "paused"));
  }
  function recordingToggle() {
    if (!S.rec || S.rec.state === "off") return;
    const action = S.rec.state === "paused" ? "resume" : S.rec.state === "available" ? "start" : "pause";
    api("POST", `/api/calls/${encodeURIComponent(S.rec.linkedid)}/recording/${action}`)
      .then((r) => { S.rec = r; paintRecording(); })
      .catch((e) => toast(e.message, "error"));
  }
  function playbackButton(interactionId) {
    const box = el("div", "h-rec");
    const btn = el("button", "btn small", t("rec.play"));
    btn.type = "button";
    btn.addEventListener("click", () => {
      btn.disabled = true;
      api("GET", `/api/crm/interactions/${interactionId}/recordings`).then((recs) => {
        if (!recs.length) { box.replaceChildren(el("span", "muted", t("rec.none"))); return; }
        box.replaceChildren(...recs.map((r) => {
          const audio = document.createElement("audio");
          audio.controls = true; audio.preload = "none"; audio.src = r.url;  // streamed with Range, audited
          return audio;
        }));
      }).catch((e) => { btn.disabled = false; toast(e.message, "error"); });
    });
    box.append(btn);
    return box;
  }

  // ---------- login ----------
  // keepPhone: the session ended while the browser phone carries a call. The call goes on (the
  // phone's SIP registration is not the session's); the agent logs in again to see it, and the
  // phone stops when that call ends if no one did (tick).
  function showLogin(msg, keepPhone) {
    window.ctiSession.stop();
    S.phoneKeptFor = keepPhone && S.me ? S.me.user_id : null;
    S.me = null;
    S.wrapped.clear();
    S.cards.clear();
    if (!S.phoneKeptFor) {
      dropDrafts();
      document.dispatchEvent(new CustomEvent("cti:logout"));  // phone.js unregisters
    }
    if (S.ws) { S.ws.onclose = null; S.ws.close(); S.ws = null; }
    $("console-view").hidden = true;
    $("login-view").hidden = false;
    const e = $("login-error");
    e.hidden = !msg; e.textContent = msg || "";
    $("login-username").focus();
  }
  async function onLogin(ev) {
    ev.preventDefault();
    const btn = $("login-submit");
    btn.disabled = true;
    try {
      const res = await api("POST", "/api/auth/login",
        { username: $("login-username").value.trim(), password: $("login-password").value });
      $("login-password").value = "";
      const kept = S.phoneKeptFor;
      S.phoneKeptFor = null;
      if (kept && kept !== res.principal.user_id) {  // someone else: the phone kept for the call is not theirs
        dropDrafts();
        document.dispatchEvent(new CustomEvent("cti:logout"));
        if (window.ctiPhone) await window.ctiPhone.stop();
      }
      if (res.redirect && res.redirect !== "/") {
        location.assign(res.redirect);
        return;
      }
      window.ctiSession.start(res, S.tz);
      startConsole(res.principal);
    } catch (err) {
      const e = $("login-error");
      e.hidden = false;
      e.textContent = err.status === 429 ? t("login.throttled", { s: err.retryAfter || "?" })
        : err.status === 401 ? t("login.bad") : t("err.generic", { m: err.message });
    } finally { btn.disabled = false; }
  }
  async function logout() {
    if (window.ctiPhone) await window.ctiPhone.stop();  // unregister while the SIP password still works
    try { await api("POST", "/api/auth/logout"); } catch (_) { /* already gone */ }
    showLogin();
  }

  // Staff without an extension are told their own role (supervisor, manager, admin).
  function staffText(me) {
    const key = `nav.staff.${me.role}`;
    return t(key) === key ? t("nav.supervisor") : t(key);
  }

  // ---------- session ----------
  // The session is renewed while the agent works (session.js): keys and clicks, and without them
  // while they take calls or wait for them in queues (an agent not ready and untouched is idle).
  // The open socket is handed each renewed token, else it would close at its first token's expiry.
  window.ctiSession.busy = () => S.calls.size > 0 || !!S.offer
    || !!(S.state && !["logged_out", "not_ready"].includes(S.state.state));
  window.ctiSession.onRenewed = (token) => {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) send({ type: "reauth", token }).catch(() => { /* keeps the old */ });
  };

  // ---------- websocket ----------
  function startConsole(me) {
    S.me = me;
    S.replaced = false;
    $("login-view").hidden = true;
    $("console-view").hidden = false;
    // Focus leaves the (now hidden) login form at once, so the keyboard shortcuts work from the first key.
    $("main").focus({ preventScroll: true });
    $("who-name").textContent = me.display_name || me.username;
    $("wallboard-link").hidden = me.role === "agent";
    if (!me.agent_id) { $("idle-text").textContent = staffText(me); $("preview-card").hidden = true; return; }
    connect();
    document.dispatchEvent(new CustomEvent("cti:login", { detail: me }));  // phone.js registers
    // Every app answers; only the console demo on fakes simulates calls.
    api("GET", "/api/demo/status").then((d) => { $("demo-card").hidden = !(d && d.available); }).catch(() => {});
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws/agent`);
    S.ws = ws;
    ws.onopen = () => { S.wsRetry = 0; setConn(true); };
    ws.onmessage = (m) => { try { onFrame(JSON.parse(m.data)); } catch (e) { console.error(e); } };
    ws.onclose = (ev) => {
      setConn(false);
      if (S.ws !== ws) return;
      S.ws = null;
      if (ev.code === 4000) {  // the console was opened in another tab: that one is the console now
        S.replaced = true;
        toast(t("conn.replaced"), "error");
        renderAll();
        tick();  // and its phone: this one stops (now, or when the call it carries ends)
        return;
      }
      if (ev.code === 4001 || ev.code === 1008) {
        api("GET", "/api/auth/session").then((s) => { if (s.authenticated) retry(); else sessionEnded(); })
          .catch(() => sessionEnded());
        return;
      }
      retry();
    };
  }
  // "Use this window": this tab becomes the console again (the other one is told in turn).
  function takeBack() {
    if (!S.replaced || !S.me) return;
    S.replaced = false;
    S.wsRetry = 0;
    connect();
    document.dispatchEvent(new CustomEvent("cti:login", { detail: S.me }));  // phone.js registers again
    renderAll();
  }
  function sessionEnded() {
    const onCall = !!window.ctiPhone && window.ctiPhone.status === "in_call";
    showLogin(t(onCall ? "login.expired_call" : "login.expired"), onCall);
  }
  function retry() {
    const delay = Math.min(10000, 300 * 2 ** S.wsRetry++);
    setTimeout(() => { if (S.me && !S.ws) connect(); }, delay);
  }
  function setConn(ok) {
    const c = $("conn-status");
    c.dataset.ok = String(ok);
    c.title = ok ? t("conn.ok") : t("conn.down");
  }
  function send(msg) {
    return new Promise((resolve, reject) => {
      if (!S.ws || S.ws.readyState !== WebSocket.OPEN) { reject(new Error(t("conn.down"))); return; }
      const ref = String(++S.refSeq);
      S.pending.set(ref, { resolve, reject });
      S.ws.send(JSON.stringify({ ...msg, ref }));
      setTimeout(() => { if (S.pending.delete(ref)) reject(new Error("timeout")); }, 8000);
    });
  }
  function act(msg) {
    return send(msg).catch((err) => { toast(t("err.generic", { m: err.message }), "error"); throw err; });
  }

  function onFrame(f) {
    switch (f.type) {
      case "hello":
        S.clockSkew = f.server_time - Date.now() / 1000;
        S.state = f.state; S.offer = f.offer; S.catalog = f.catalog;
        S.calls = new Map(f.calls.map((c) => [c.call_id, c]));
        fillCatalog();
        stateChanged();
        break;
      case "state": S.state = f.state; stateChanged(); break;
      case "offer": S.offer = f.offer; S.browseCustomer = null; break;
      case "offer_withdrawn":
        if (S.offer && S.offer.call_id === f.call_id) S.offer = null;
        S.calls.delete(f.call_id);
        toast(t("offer.withdrawn", { r: label("withdrawn", f.reason) }));
        break;
      case "call": {
        const old = S.calls.get(f.call.call_id);
        if (f.call.status === "closed") { S.calls.delete(f.call.call_id); dropDrafts(f.call.call_id); }
        else S.calls.set(f.call.call_id, { ...f.call, pop: f.call.pop || (old && old.pop) });
        if (S.offer && S.offer.call_id === f.call.call_id && f.call.status !== "ringing") S.offer = null;
        break;
      }
      case "pop": {
        if (S.offer && S.offer.call_id === f.call_id) S.offer.pop = f.pop;
        const c = S.calls.get(f.call_id);
        if (c) c.pop = f.pop;
        break;
      }
      case "ack": case "error": {
        const p = f.ref && S.pending.get(f.ref);
        if (p) {
          S.pending.delete(f.ref);
          if (f.type === "ack") p.resolve(f.result);
          else p.reject(serverError(f.message, f.code, f.field));
        } else if (f.type === "error") toast(serverError(f.message, f.code, f.field).message, "error");
        return;
      }
      case "bye": return;
      case "pong": return;
      default: return;
    }
    renderAll();
  }

  // ---------- rendering ----------
  function fillCatalog() {
    const rs = $("reason-select");
    const keep = rs.value;
    rs.replaceChildren(...S.catalog.reasons.map((r) => { const o = el("option", "", label("reason", r.code, r.label)); o.value = r.code; return o; }));
    if (keep) rs.value = keep;
    const ds = $("wrap-disposition");
    const keepD = ds.value;
    const first = el("option", "", t("wrap.choose")); first.value = "";
    ds.replaceChildren(first, ...S.catalog.dispositions
      .map((d) => { const o = el("option", "", label("disp", d.code, d.label)); o.value = d.code; return o; }));
    ds.value = keepD;
    $("xfer-queues").replaceChildren(...S.catalog.queues.map((q) => { const o = el("option"); o.value = q; return o; }));
  }

  // A disposition without a translation (one an admin added to the catalog): the catalog's own label.
  function dispLabel(code) {
    const d = S.catalog.dispositions.find((x) => x.code === code);
    return d ? d.label : code || "—";
  }

  // A call (or offer) the engine placed: an agent's dial, a callback's or preview contact's call, or a
  // person a progressive or predictive campaign reached (queued to an agent, yet no one called in).
  function outward(c) { return !!c && (c.direction === "outbound" || !!c.campaign || !!(c.detail && c.detail.campaign)); }
  // A callback's call (or offer): a preview callback the agent called (outbound), or virtual hold's,
  // where the customer asked to be called back, kept their place and answered the engine's call.
  function isCallback(c) { return !!c && (!!c.callback || !!(c.detail && c.detail.callback)); }
  // What the call is, as the agent sees it: a campaign's, a callback's, else inbound or outbound.
  function callKind(c) {
    const d = (c && c.detail) || {};
    const campaign = d.campaign || (c && c.campaign);
    if (campaign) return t("call.campaign", { c: campaign });
    if (isCallback(c)) return t(outward(c) ? "call.callback" : "call.kept_place");
    return t(outward(c) ? "call.outbound" : "call.inbound");
  }
  // The engine dials E.164 digits without the "+" (acd.call_actions.dial): shown in E.164, as callers are.
  function e164(n, out) { return out && /^[1-9][0-9]{7,14}$/.test(n || "") ? `+${n}` : n || ""; }
  function peerNumber(call) { return e164(call.peer_number, outward(call)); }

  function currentCall() {
    const calls = [...S.calls.values()];
    return calls.find((c) => c.call_id === S.focusCall) || calls.find((c) => c.status !== "ended")
      || calls[0] || null;
  }
  function wrapCall() { return [...S.calls.values()].find((c) => c.status === "ended") || null; }
  // The consultation leg of an attended transfer to this agent: the call is still the transferring
  // agent's, so this agent may only hang up until the transfer completes (detail.consult.role).
  function consulted(call) { return !!(call && call.detail && call.detail.consult && call.detail.consult.role === "consulted"); }
  // "Transferred by agent 1001: note": who handed the call (or the consultation) over, and their note.
  function transferText(tr) {
    if (!tr || !tr.from_agent) return "";
    const by = t("transfer.by", { a: tr.from_agent });
    return tr.note ? `${by}: ${tr.note}` : by;
  }
  function consultTarget(c) {
    return c.target_kind === "agent" ? t("transfer.target_agent", { t: c.target })
      : c.target_kind === "queue" ? t("transfer.target_queue", { t: c.target }) : c.target;
  }

  function renderAll() {
    if (!S.me) return;
    freshCards();
    $("replaced-card").hidden = !S.replaced;
    renderState();
    const call = currentCall();
    const pop = (S.offer && S.offer.pop) || (call && call.pop) || null;
    // offer
    $("offer-card").hidden = !S.offer;
    if (S.offer) {
      $("offer-title").textContent = S.offer.campaign ? t("offer.campaign", { c: S.offer.campaign })
        : S.offer.callback ? t("offer.callback") : t("offer.incoming");
      $("offer-number").textContent = e164(S.offer.caller_number, outward(S.offer)) || "—";
      $("offer-queue").textContent = S.offer.queue || "—";
      $("offer-waited").textContent = duration(S.offer.pop && S.offer.pop.waited_s);
      const tr = transferText(S.offer.pop && S.offer.pop.transfer);
      $("offer-transfer").textContent = tr;
      $("offer-transfer").hidden = !tr;
    }
    // call
    const live = call && call.status !== "ended" ? call : null;
    $("call-card").hidden = !call || !!S.offer && !live;
    if (call) {
      const st = $("call-status");
      const asked = consulted(call);
      st.textContent = asked && call.status === "consulting" ? t("status.consultation") : label("status", call.status);
      st.dataset.status = call.status;
      $("call-direction").textContent = callKind(call);
      $("call-peer").textContent = peerNumber(call);
      const on = !!live;
      // Hold and transfer act on the caller talking or held with this agent; while consulting (the
      // caller on hold for it) or in a conference the engine refuses both.
      const withCaller = ["talking", "held"].includes(call.status);
      for (const id of ["btn-hold", "btn-transfer"]) $(id).disabled = !on || asked || !withCaller;
      $("btn-dtmf").disabled = !on || asked;
      $("btn-hangup").disabled = !on;
      $("btn-hold").firstElementChild.textContent = call.status === "held" ? t("call.resume") : t("call.hold");
      $("btn-hold").setAttribute("aria-pressed", String(call.status === "held"));
      // A consultation can be cancelled (back to the caller) or joined into a three-way call, by the
      // agent who consults; the agent consulted only talks to them.
      $("btn-cancel-consult").hidden = $("btn-conference").hidden = call.status !== "consulting" || asked;
      $("btn-cancel-consult").disabled = $("btn-conference").disabled = !on;
      const tr = transferText((call.detail && call.detail.transfer)
        || (asked ? { from_agent: call.detail.consult.from_agent } : null) || (call.pop && call.pop.transfer));
      $("call-transfer").textContent = tr;
      $("call-transfer").hidden = !tr;
      syncRecording(asked ? null : live);
      const consult = call.detail && call.detail.consult;
      if (call.status === "consulting" && consult && consult.role === "transferring") {
        toastOnce(`c-${call.call_id}`, t("transfer.consulting", { t: consultTarget(consult) }));
      }
    }
    // idle text
    const idle = !S.offer && !call && !S.browseCustomer && $("dial-pending").hidden;  // dial_box.js's
    $("idle-card").hidden = !idle;
    if (idle) {
      const st = S.state && S.state.state;
      $("idle-text").textContent = S.me && !S.me.agent_id ? staffText(S.me) : st === "available" ? t("call.idle_ready")
        : st === "logged_out" ? t("call.idle_logged_out") : t("call.idle");
      $("idle-queues").textContent = ((S.state && S.state.queues) || []).join(", ") || "—";
    }
    renderPop(pop || S.browseCustomer);
    renderWrap();
  }

  const toasted = new Set();
  function toastOnce(key, text) { if (!toasted.has(key)) { toasted.add(key); toast(text); } }

  function renderState() {
    const st = S.state || { state: "logged_out" };
    const pill = $("state-pill");
    pill.dataset.state = st.state;
    $("state-label").textContent = label("state", st.state);
    const reason = st.state === "not_ready" && st.reason ? label("reason", st.reason, st.reason)
      : st.not_ready_after_call ? t("state.after_call", { r: label("reason", st.not_ready_after_call) }) : "";
    $("state-reason").textContent = reason;
    // Until the hello says the agent's state, a Ready would go without its queue login and be refused.
    $("btn-ready").disabled = !S.state || st.state === "available" || S.replaced;
    $("btn-not-ready").disabled = !S.state || st.state === "logged_out" || S.replaced;
  }
  function tick() {
    // A replaced tab's phone would keep registering and take the extension's one contact back from
    // the tab that is the console now: it stops, once any call it carries is over.
    const phone = window.ctiPhone;
    if (S.replaced && phone && !["off", "in_call"].includes(phone.status)) phone.stop();
    if (S.phoneKeptFor && !S.me && !(window.ctiPhone && window.ctiPhone.status === "in_call")) {
      S.phoneKeptFor = null;  // the call kept through an ended session is over, and no one logged in
      dropDrafts();
      document.dispatchEvent(new CustomEvent("cti:logout"));
    }
    if (S.state) $("state-timer").textContent = clock(now() - (S.state.since || now()));
    const call = currentCall();
    $("call-timer").textContent = call ? clock(now() - call.started_at) : "";
  }

  function renderPop(pop) {
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
      $("cust-avatar").textContent = (cust.name || "?").trim().charAt(0);
      $("cust-name").textContent = cust.name;
      $("cust-source").hidden = pop.source !== "cache";  // the card the engine kept while the CRM is away
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
      $("btn-edit-customer").hidden = pop.source === "cache";  // the CRM is away: nothing to save to
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
      head.append(el("span", "badge disp", label("disp", r.disposition, dispLabel(r.disposition))),
        el("span", "muted", `${ago(r.at)} · ${label("chan", r.channel, r.channel || "")} · ${r.agent_name || r.agent || ""}`));
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

  let wrapShownFor = null;
  function renderWrap() {
    const call = wrapCall();
    const form = $("wrap-form");
    form.hidden = !call;
    if (!call) { wrapShownFor = null; return; }
    $("wrap-call").textContent = call.peer_number ? `· ${peerNumber(call)}` : "";
    const cases = (call.pop && call.pop.open_cases) || [];
    $("case-id").replaceChildren(...cases.map((c) => { const o = el("option", "", `#${c.id} ${c.subject}`); o.value = c.id; return o; }));
    form.querySelector('input[value="update"]').disabled = !cases.length;
    form.querySelector('input[value="new"]').disabled = !(call.pop && call.pop.customer) && !call.customer_id;
    $("wrap-no-answer-row").hidden = call.direction !== "outbound";
    if (wrapShownFor !== call.call_id) {
      wrapShownFor = call.call_id;
      form.reset();
      resolvedByHand = false;
      restoreDraft(call.call_id);
      syncCaseMode();
      $("wrap-error").hidden = true;
      $("wrap-disposition").focus();
    }
    showCallbackZone();
  }
  // A wrap-up being written is kept per call in this tab's sessionStorage, so that a reload brings
  // it back; the wrap-up done, the call closed or a logout forget it.
  const DRAFT = "cti.wrap.";
  const DRAFT_FIELDS = ["wrap-disposition", "wrap-notes", "wrap-resolved", "case-subject", "case-priority", "case-id",
    "case-status", "wrap-callback", "wrap-no-answer"];
  function saveDraft() {
    const call = wrapCall();
    if (!call || wrapShownFor !== call.call_id) return;
    const d = { byHand: resolvedByHand, mode: document.querySelector('input[name="case-mode"]:checked').value };
    for (const id of DRAFT_FIELDS) d[id] = $(id).type === "checkbox" ? $(id).checked : $(id).value;
    try { sessionStorage.setItem(DRAFT + call.call_id, JSON.stringify(d)); } catch (_) { /* storage off or full */ }
  }
  function restoreDraft(callId) {
    let d = null;
    try { d = JSON.parse(sessionStorage.getItem(DRAFT + callId) || "null"); } catch (_) { /* not ours */ }
    if (!d || typeof d !== "object") return;
    for (const id of DRAFT_FIELDS) {
      if (!(id in d)) continue;
      if ($(id).type === "checkbox") $(id).checked = !!d[id]; else $(id).value = String(d[id]);
    }
    for (const r of document.querySelectorAll('input[name="case-mode"]')) r.checked = r.value === d.mode && !r.disabled;
    if (!document.querySelector('input[name="case-mode"]:checked')) document.querySelector('input[name="case-mode"][value="none"]').checked = true;
    resolvedByHand = !!d.byHand;
  }
  function dropDrafts(callId) {
    try {
      for (const k of Object.keys(sessionStorage)) if (k.startsWith(DRAFT) && (!callId || k === DRAFT + callId)) sessionStorage.removeItem(k);
    } catch (_) { /* storage off */ }
  }
  // "Resolved on first contact" follows the disposition (catalog `resolves`, the flag's default)
  // until the agent sets the box by hand.
  let resolvedByHand = false;
  function syncResolved() {
    if (resolvedByHand) return;
    const d = S.catalog.dispositions.find((x) => x.code === $("wrap-disposition").value);
    $("wrap-resolved").checked = !!(d && d.resolves);
  }
  function syncCaseMode() {
    const mode = document.querySelector('input[name="case-mode"]:checked').value;
    $("case-new").hidden = mode !== "new";
    $("case-update").hidden = mode !== "update";
  }
  // The callback time is the agent's own: this computer's time zone, named beside the field, and
  // sent with its UTC offset ("2027-01-05T09:30" typed in Shanghai goes as ...T09:30:00+08:00).
  function utcOffset(d) {
    const m = -d.getTimezoneOffset(), a = Math.abs(m), p = (n) => String(n).padStart(2, "0");
    return `${m < 0 ? "-" : "+"}${p(Math.floor(a / 60))}:${p(a % 60)}`;
  }
  function callbackAt(value) {
    const d = value ? new Date(value) : null;  // a datetime-local value: this computer's zone
    if (!d || Number.isNaN(d.getTime())) return null;
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:` +
      `${p(d.getSeconds())}${utcOffset(d)}`;
  }
  function showCallbackZone() {
    const typed = new Date($("wrap-callback").value);  // the offset of the day chosen (summer time)
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    const offset = `UTC${utcOffset(Number.isNaN(typed.getTime()) ? new Date() : typed)}`;
    $("wrap-callback-zone").textContent = zone ? t("wrap.callback_zone", { zone, offset }) : offset;
  }
  async function submitWrap(ev) {
    ev.preventDefault();
    const call = wrapCall();
    if (!call) return;
    const err = $("wrap-error");
    const disposition = $("wrap-disposition").value;
    if (!disposition) { err.hidden = false; err.textContent = t("wrap.need_disp"); $("wrap-disposition").focus(); return; }
    const msg = { type: "wrap_up", call_id: call.call_id, disposition, notes: $("wrap-notes").value,
      resolved: $("wrap-resolved").checked };
    const mode = document.querySelector('input[name="case-mode"]:checked').value;
    if (mode === "new") msg.case = { subject: $("case-subject").value, priority: $("case-priority").value,
      note: $("wrap-notes").value.slice(0, 4000) };
    if (mode === "update") {
      msg.case = { id: Number($("case-id").value), note: $("wrap-notes").value.slice(0, 4000) };
      if ($("case-status").value) msg.case.status = $("case-status").value;
    }
    const cb = callbackAt($("wrap-callback").value);
    if (cb) msg.callback_at = cb;
    if (call.direction === "outbound" && $("wrap-no-answer").checked) msg.no_answer = true;
    $("wrap-submit").disabled = true;
    try {
      const result = (await send(msg)) || {};  // send resolves with the ack's result
      dropDrafts(call.call_id);
      rememberWrapUp(call, msg, result);
      toast(t("wrap.done"), "ok");
      // preview.js: the panel is free again, and says what became of a callback called (settled_callback)
      document.dispatchEvent(new CustomEvent("cti:wrapped", { detail: result }));
      const cid = (call.pop && call.pop.customer && call.pop.customer.id) || call.customer_id;
      if (cid) await openCustomer(cid);
    } catch (e) {
      err.hidden = false;
      // The server's own words name no field at times; a translated refusal names it already.
      err.textContent = e.field && e.message === e.serverMessage ? `${e.field}: ${e.message}` : e.message;
    } finally { $("wrap-submit").disabled = false; }
  }

  // The call logger writes a wrap-up's disposition and notes into the CRM after the ack, so a
  // history read at once may lack the call or its result: the card shows what the ack confirmed
  // saved until the CRM's copy has it (docs/agent-console.md).
  function rememberWrapUp(call, msg, result) {
    S.wrapped.set(call.call_id, { id: result.interaction_id || null, call_id: call.call_id,
      at: call.started_at || now(), channel: "phone", direction: call.direction, agent: S.me && S.me.agent_id,
      agent_name: S.me && (S.me.display_name || S.me.username), disposition: msg.disposition, notes: msg.notes,
      resolved: msg.resolved, recording: false, customer_id: (call.pop && call.pop.customer && call.pop.customer.id)
        || call.customer_id || null });
    while (S.wrapped.size > 20) S.wrapped.delete(S.wrapped.keys().next().value);
  }
  function withWrapUps(rows) {
    if (!S.wrapped.size) return rows;
    const shown = S.browseCustomer ? S.browseCustomer.customer : (currentCall() || {}).pop && currentCall().pop.customer;
    const out = rows.map((r) => {
      const w = r.call_id && S.wrapped.get(r.call_id);
      if (!w) return r;
      if (r.disposition) { S.wrapped.delete(r.call_id); return r; }  // the CRM has it now
      return { ...r, disposition: w.disposition, notes: w.notes, resolved: w.resolved, id: r.id || w.id };
    });
    const seen = new Set(out.map((r) => r.call_id));
    const missing = [...S.wrapped.values()].filter((w) => !seen.has(w.call_id) && shown && w.customer_id === shown.id
      && !(currentCall() && currentCall().call_id === w.call_id));
    return missing.length ? [...missing, ...out].sort((a, b) => Number(b.at || 0) - Number(a.at || 0)) : out;
  }

  // ---------- customers ----------
  let searchTimer = null;
  function onSearchInput() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 180);
  }
  async function runSearch(ev) {
    if (ev) ev.preventDefault();
    const q = $("search-q").value.trim();
    const list = $("search-results");
    if (!q) { list.replaceChildren(); return; }
    try {
      S.found = await api("GET", `/api/customers?q=${encodeURIComponent(q)}&limit=8`);
      renderSearch();
    } catch (e) { toast(e.message, "error"); }
  }
  function renderSearch() {  // again on a language switch ("No customer found.", tiers)
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
  async function openCustomer(id) {
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
  function shownCustomer() {
    const call = currentCall();
    const pop = (S.offer && S.offer.pop) || (call && call.pop) || S.browseCustomer;
    return (pop && pop.customer) || null;
  }
  function customerSaved(c) {
    S.cards.delete(c.id);
    S.cards.set(c.id, { name: c.name, company: c.company, tier: c.tier, lifecycle: c.lifecycle, language: c.language,
      phone: (c.phones[0] && c.phones[0].number) || null, email: c.emails[0] || null, tags: c.tags });
    while (S.cards.size > 50) S.cards.delete(S.cards.keys().next().value);
    renderAll();
  }
  function freshCards() {
    if (!S.cards.size) return;
    for (const pop of [S.offer && S.offer.pop, ...[...S.calls.values()].map((c) => c.pop), S.browseCustomer]) {
      const card = pop && pop.customer && S.cards.get(pop.customer.id);
      if (card) pop.customer = { ...pop.customer, ...card };
    }
  }
  // ---------- dialogs ----------
  function openDialog(id) { const d = $(id); if (!d.open) d.showModal(); }
  function openTransfer() {
    const call = currentCall();
    if (!call || !["talking", "held"].includes(call.status) || consulted(call)) return;
    $("xfer-error").hidden = true;
    openDialog("transfer-dialog");
    $("xfer-target").focus();
  }
  async function submitTransfer(ev) {
    ev.preventDefault();
    const call = currentCall();
    if (!call) return;
    const kind = document.querySelector('input[name="xfer-kind"]:checked').value;
    try {
      await send({ type: "transfer", call_id: call.call_id, kind, target_kind: $("xfer-target-kind").value,
        target: $("xfer-target").value.trim(), note: $("xfer-note").value.trim() });
      $("xfer-note").value = "";
      $("transfer-dialog").close();
    } catch (e) { const x = $("xfer-error"); x.hidden = false; x.textContent = e.message; }
  }
  function buildPad() {
    const pad = $("dtmf-pad");
    for (const k of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"]) {
      const b = el("button", "btn key", k);
      b.type = "button";
      b.addEventListener("click", () => sendDigit(k));
      pad.append(b);
    }
  }
  function sendDigit(k) {
    const call = currentCall();
    if (!call || consulted(call)) return;
    if (window.ctiPhone && window.ctiPhone.sendDtmf(k)) { $("dtmf-sent").textContent += k; return; }  // RFC 4733 from the browser
    act({ type: "dtmf", call_id: call.call_id, digits: k }).then(() => { $("dtmf-sent").textContent += k; }).catch(() => {});
  }
  function openQueues() {
    const box = $("queues-list");
    const mine = new Set((S.state && S.state.queues) || []);
    // The queues the agent may join (their skills' and general), and any they are in already.
    const open = [...new Set([...(S.catalog.login_queues || []), ...mine])].sort();
    box.replaceChildren(...open.map((q) => {
      const lab = el("label", "check");
      const cb = el("input"); cb.type = "checkbox"; cb.checked = mine.has(q);
      cb.addEventListener("change", () => act({ type: cb.checked ? "queues_login" : "queues_logout", queues: [q] })
        .catch(() => { cb.checked = !cb.checked; }));
      lab.append(cb, el("span", "", ` ${q}`));
      return lab;
    }));
    openDialog("queues-dialog");
  }

  // ---------- actions ----------
  async function goReady() {
    if (!S.state) return;  // the hello is not in yet (the button is disabled until then; the R key too)
    // A browser phone without a usable microphone could not answer: the call would ring, fail and
    // count as missed. Refused here, naming the problem (phone.js says it on the card too).
    const noMic = window.ctiPhone ? await window.ctiPhone.micCheck() : null;
    if (noMic) { toast(t("ready.no_mic", { m: noMic }), "error"); return; }
    if (!S.state) return;
    const st = S.state.state;
    if (st === "logged_out") { act({ type: "queues_login", queues: [] }).then(() => act({ type: "ready" })).catch(() => {}); return; }
    act({ type: "ready" }).catch(() => {});
  }
  function goNotReady() { act({ type: "not_ready", reason: $("reason-select").value || "break" }).catch(() => {}); }
  function holdToggle() {
    const call = currentCall();
    if (!call || consulted(call)) return;
    if (call.status === "held") act({ type: "resume", call_id: call.call_id }).catch(() => {});
    else if (call.status === "talking") act({ type: "hold", call_id: call.call_id }).catch(() => {});
  }
  function cancelConsult() {
    const call = currentCall();
    if (call && call.status === "consulting") act({ type: "cancel_consult", call_id: call.call_id }).catch(() => {});
  }
  function conference() {
    const call = currentCall();
    if (call && call.status === "consulting") act({ type: "conference", call_id: call.call_id }).catch(() => {});
  }
  function hangup() {
    const call = currentCall();
    if (call && call.status !== "ended") act({ type: "hangup", call_id: call.call_id }).catch(() => {});
  }

  function typing(ev) {
    const tag = (ev.target && ev.target.tagName) || "";
    return ["INPUT", "TEXTAREA", "SELECT"].includes(tag) || (ev.target && ev.target.isContentEditable);
  }
  function onKey(ev) {
    // A key the browser phone took (phone.js: A answer, X decline while ringing, M mute) does nothing
    // more here: its X declining a ring would also hang up the call (the held call it rings for).
    if (!S.me || $("console-view").hidden || ev.defaultPrevented) return;
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !$("wrap-form").hidden) {
      ev.preventDefault(); $("wrap-form").requestSubmit(); return;
    }
    if (document.querySelector("dialog[open]")) {
      const open = document.querySelector("dialog[open]");
      if (open.id === "dtmf-dialog" && /^[0-9*#]$/.test(ev.key) && !typing(ev)) { ev.preventDefault(); sendDigit(ev.key); }
      return; // Esc closes dialogs natively
    }
    if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) {
      if (ev.key === "Escape" && typing(ev)) ev.target.blur();
      return;
    }
    const k = ev.key.toLowerCase();
    const map = {
      r: goReady, n: goNotReady, h: holdToggle, x: hangup, t: openTransfer, l: toggleLang,
      d: () => { if (currentCall() && !consulted(currentCall())) { $("dtmf-sent").textContent = ""; openDialog("dtmf-dialog"); } },
      w: () => { if (!$("wrap-form").hidden) $("wrap-disposition").focus(); },
      "/": () => $("search-q").focus(), "?": () => openDialog("help-dialog"),
      escape: () => { S.browseCustomer = null; renderAll(); },
    };
    const fn = map[k];
    if (fn) { ev.preventDefault(); fn(); }
  }

  // The browser phone's microphone went away: warned, and not ready (reason no_microphone) at once,
  // or once the current call ends (the engine keeps it pending), as for a lost phone registration.
  function onMicLost() {
    if (!S.me || !S.me.agent_id || S.replaced) return;
    toast(t("ready.mic_lost"), "error");
    const st = S.state && S.state.state;
    if (st && !["logged_out", "not_ready"].includes(st)) act({ type: "not_ready", reason: "no_microphone" }).catch(() => {});
  }

  // ---------- boot ----------
  function wire() {
    $("login-form").addEventListener("submit", onLogin);
    document.querySelectorAll(".lang-toggle").forEach((b) => b.addEventListener("click", toggleLang));
    $("btn-logout").addEventListener("click", logout);
    $("btn-take-back").addEventListener("click", takeBack);
    $("btn-ready").addEventListener("click", goReady);
    $("btn-not-ready").addEventListener("click", goNotReady);
    $("btn-queues").addEventListener("click", openQueues);
    $("btn-logoff").addEventListener("click", () => act({ type: "queues_logout", queues: [] })
      .then(() => $("queues-dialog").close()).catch(() => {}));
    $("btn-help").addEventListener("click", () => openDialog("help-dialog"));
    $("btn-hold").addEventListener("click", holdToggle);
    $("btn-cancel-consult").addEventListener("click", cancelConsult);
    $("btn-conference").addEventListener("click", conference);
    $("btn-rec").addEventListener("click", recordingToggle);
    $("btn-hangup").addEventListener("click", hangup);
    $("btn-transfer").addEventListener("click", openTransfer);
    $("btn-dtmf").addEventListener("click", () => { $("dtmf-sent").textContent = ""; openDialog("dtmf-dialog"); });
    $("transfer-form").addEventListener("submit", submitTransfer);
    $("wrap-form").addEventListener("submit", submitWrap);
    $("wrap-form").addEventListener("input", saveDraft);
    $("wrap-callback").addEventListener("input", showCallbackZone);
    $("wrap-form").addEventListener("change", saveDraft);
    $("wrap-disposition").addEventListener("change", syncResolved);
    $("wrap-resolved").addEventListener("change", () => { resolvedByHand = true; });
    document.querySelectorAll('input[name="case-mode"]').forEach((r) => r.addEventListener("change", syncCaseMode));
    $("search-form").addEventListener("submit", runSearch);
    $("search-q").addEventListener("input", onSearchInput);
    $("btn-demo-offer").addEventListener("click", () => api("POST", "/api/demo/offer",
      { caller_number: $("demo-customer").value }).catch((e) => toast(e.message, "error")));
    document.querySelectorAll("[data-close]").forEach((b) => b.addEventListener("click", () => b.closest("dialog").close()));
    document.addEventListener("keydown", onKey);
    document.addEventListener("cti:mic-lost", onMicLost);
    buildPad();
    setInterval(tick, 1000);
  }

  async function boot() {
    const saved = localStorage.getItem("cti.lang");
    S.lang = saved || (navigator.language && navigator.language.toLowerCase().startsWith("zh") ? "zh-CN" : "en");
    wire();
    applyI18n();
    // /api/auth/session answers 200 logged in or not: a logged-out visit fails no request.
    try {
      const s = await api("GET", "/api/auth/session");
      S.tz = s.tz || "UTC";
      if (s.authenticated) { window.ctiSession.start(s, S.tz); startConsole(s.principal); } else showLogin();
    } catch (_) { showLogin(); }
  }
  // For preview.js and customer_edit.js; callStarted: a dialled call takes the screen from a customer being browsed.
  // wrap_timer.js: the server's clock (now) and the call whose wrap-up form is shown (wrapCallId).
  // dial_box.js: act (a websocket action, its refusal toasted), refresh (render again), browsed (the customer).
  window.ctiConsole = { api, act, t, el, toast, callStarted: () => { S.browseCustomer = null; renderAll(); },
    refresh: renderAll, browsed: () => (S.browseCustomer && S.browseCustomer.customer) || null, shownCustomer, customerSaved, now, wrapCallId: () => (wrapCall() || {}).call_id || null };
  document.addEventListener("DOMContentLoaded", boot);
})();
