/* Click-to-dial from the dial box and from a browsed customer's card (docs/agent-console.md). The
   engine places the call only once the agent's own phone answered (it rings first, up to 30 s), and
   answers the dial then: until that moment the console says what rings ("Dialling …: answer your
   phone") instead of the screen it had (a customer browsed before would pass for the caller), and
   takes no second dial (it would ring the phone that is already ringing, and fail). */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const C = () => window.ctiConsole;
  let pending = null;  // the number being dialled, until the engine's answer

  function render() {
    $("dial-pending").hidden = !pending;
    $("dial-pending-text").textContent = pending ? C().t("dial.pending", { n: pending }) : "";
    $("dial-form").querySelector("button[type=submit]").disabled = !!pending;
    $("btn-dial-customer").disabled = !!pending;
  }
  function dial(number, customerId) {
    if (!number || pending) return;
    pending = number;
    render();
    C().callStarted();  // the customer browsed leaves the screen (the call's pop comes with the call)
    C().act({ type: "dial", number: number.replace(/[\s().-]/g, ""), customer_id: customerId || null })
      .catch(() => {})  // act's toast says why
      .finally(() => { pending = null; render(); C().refresh(); });
  }
  function wire() {
    $("dial-form").addEventListener("submit", (ev) => { ev.preventDefault(); dial($("dial-number").value.trim()); });
    $("btn-dial-customer").addEventListener("click", () => {
      const c = C().browsed();
      if (c) dial(c.phone, c.id);
    });
    document.addEventListener("cti:lang", render);
  }
  document.addEventListener("DOMContentLoaded", wire);
})();
