/* The wrap-up's countdown (docs/agent-console.md): the engine's state says when the agent's wrap-up
   ends on its own (wrap_until: the queue's wrap-up time, or the agent's own); the form shows the time
   left. When that time runs out with the form still open the agent is told (a toast, which screen
   readers announce, and the form's line): they are ready (or not ready) again, and the form, sent
   late, still gives the call its disposition and notes. After a reload the engine's hello brings
   the countdown back. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const C = () => window.ctiConsole;
  let state = null;  // the agent's state, as the console last had it
  let overFor = null;  // the call whose wrap-up time ran out while its form was open

  function mmss(sec) {
    sec = Math.max(0, Math.ceil(sec));
    return `${String(Math.floor(sec / 60)).padStart(2, "0")}:${String(sec % 60).padStart(2, "0")}`;
  }
  function render() {
    const box = $("wrap-left");
    const id = C() && C().wrapCallId();
    if (!id) { overFor = null; box.hidden = true; return; }
    if (state && state.state === "wrap_up" && state.wrap_until) {
      box.textContent = C().t("wrap.left", { t: mmss(state.wrap_until - C().now()) });
      box.dataset.over = "false";
      box.hidden = false;
    } else if (overFor === id) {
      box.textContent = C().t(state && state.state === "available" ? "wrap.over_ready" : "wrap.over");
      box.dataset.over = "true";
      box.hidden = false;
    } else box.hidden = true;
  }
  document.addEventListener("cti:state", (ev) => {
    const old = state;
    state = ev.detail;
    const id = C() && C().wrapCallId();
    // The wrap-up state ended by its timer (not by the form being sent, nor by the agent's N or dial).
    const timedOut = old && old.state === "wrap_up" && old.wrap_until && state && state.state !== "wrap_up"
      && C().now() >= old.wrap_until - 1 && !$("wrap-submit").disabled;
    if (timedOut && id) {
      overFor = id;
      C().toast(C().t(state.state === "available" ? "wrap.over_ready" : "wrap.over"));
    }
    render();
  });
  document.addEventListener("cti:lang", render);
  document.addEventListener("DOMContentLoaded", () => setInterval(render, 1000));
})();
