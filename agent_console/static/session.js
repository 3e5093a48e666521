/* Keeps a page's session alive while it is used (POST /api/auth/renew) and warns before the
   session's absolute end (docs/agent-console.md, "Session length"). Shared by the console and the
   supervisor pages; no build step, no external resources.

   A session ends after web.session_idle_min without a renewal. The page renews when its user
   pressed a key, clicked or scrolled since the last renewal, or when the page says it is busy
   (window.ctiSession.busy: the console while its agent is on a call, offered one or waiting for
   one in queues; the wallboard while it is shown). It renews once a
   quarter of the idle timeout has gone, so an unused page's session ends one idle timeout after
   its last use. No renewal reaches past session_ends_at (the login plus web.session_max_hours):
   from min(5 min, idle timeout) before it a banner says when it ends. */
"use strict";
(() => {
  const TEXT = {
    en: { warn: "Your session ends at {t}. Then log in again (your call, if any, goes on)." },
    "zh-CN": { warn: "会话将于 {t} 结束，届时请重新登录（进行中的通话不受影响）。" },
  };
  const X = { info: null, skew: 0, lastInput: 0, lastRenew: 0, timer: null, busy: null, onRenewed: null,
              renewing: false, banner: null };

  const local = () => Date.now() / 1000;
  function text(vars) {
    const lang = document.documentElement.lang || "en";
    return (TEXT[lang] || TEXT.en).warn.replace("{t}", vars.t);
  }
  function hhmm(epoch, tz) {
    try {
      return new Intl.DateTimeFormat(document.documentElement.lang || "en",
        { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: tz || "UTC" }).format(new Date(epoch * 1000));
    } catch (_) { return new Date(epoch * 1000).toTimeString().slice(0, 5); }
  }
  function input() { X.lastInput = local(); }
  for (const ev of ["keydown", "pointerdown", "wheel", "touchstart"]) {
    document.addEventListener(ev, input, { capture: true, passive: true });
  }

  function active() {
    if (X.lastInput > X.lastRenew) return true;
    try { return !!(X.busy && X.busy()); } catch (_) { return false; }
  }

  async function renew() {
    X.renewing = true;
    try {
      const r = await fetch("/api/auth/renew", { method: "POST", credentials: "same-origin" });
      if (r.status === 401) { stop(); return; }  // ended: the page learns it from its next request or socket
      if (!r.ok) return;  // tried again at the next tick
      const body = await r.json();
      accept(body, X.info && X.info.tz);
      if (X.onRenewed) X.onRenewed(body.token);
      document.dispatchEvent(new CustomEvent("cti:session-renewed", { detail: { expires_at: body.expires_at } }));
    } catch (_) { /* offline: the next tick tries again */ } finally { X.renewing = false; }
  }

  function accept(info, tz) {
    X.info = { expires_at: info.expires_at, session_ends_at: info.session_ends_at,
               idle_timeout_s: info.idle_timeout_s, tz: tz || info.tz || "UTC" };
    X.skew = (info.server_time || local()) - local();  // server clock minus ours
    X.lastRenew = local();
  }

  function tick() {
    const i = X.info;
    if (!i) return;
    const now = local() + X.skew;  // on the server's clock
    const left = i.session_ends_at - now;
    warn(left <= Math.min(300, i.idle_timeout_s) && left > 0);
    if (X.renewing || now >= i.expires_at || i.expires_at >= i.session_ends_at) return;  // nothing to gain
    const since = local() - X.lastRenew;
    if (active() && (since >= i.idle_timeout_s / 4 || i.expires_at - now < i.idle_timeout_s / 3)) renew();
  }

  function warn(show) {
    if (!show) { if (X.banner) X.banner.hidden = true; return; }
    if (!X.banner) {
      const b = document.createElement("div");
      b.id = "session-warning";
      b.setAttribute("role", "alert");
      // A small note at the bottom that clicks pass through: it must never stand in front of a
      // control the agent needs mid-call (Ready, Hang up...).
      Object.assign(b.style, { position: "fixed", bottom: "8px", left: "50%", transform: "translateX(-50%)",
                               zIndex: "1000", padding: "6px 12px", borderRadius: "6px", pointerEvents: "none",
                               background: "#fff3cd", color: "#664d03", border: "1px solid #ffda6a",
                               maxWidth: "90vw", textAlign: "center", font: "14px sans-serif" });
      document.body.append(b);
      X.banner = b;
    }
    X.banner.textContent = text({ t: hhmm(X.info.session_ends_at, X.info.tz) });
    X.banner.hidden = false;
  }

  function start(info, tz) {
    accept(info, tz);
    if (X.timer) clearInterval(X.timer);
    // Often enough for a short test timeout, at most every 30 s for a real one.
    X.timer = setInterval(tick, Math.max(250, Math.min(30000, info.idle_timeout_s * 1000 / 10)));
    tick();
  }
  function stop() {
    if (X.timer) clearInterval(X.timer);
    X.timer = null;
    X.info = null;
    warn(false);
  }

  window.ctiSession = {
    start, stop,
    set busy(fn) { X.busy = fn; },
    set onRenewed(fn) { X.onRenewed = fn; },
    get expiresAt() { return X.info ? X.info.expires_at : null; },
  };
})();
