/* Erlang C staffing calculator: the form -> /api/supervisor/staffing (acd.staffing.staff). */
"use strict";
(() => {
  const { $, t, api, el, pct } = window.Sup;
  let last = null;
  function render() {
    const dl = $("st-result");
    dl.replaceChildren();
    if (!last) return;
    const rows = [["st.traffic", last.traffic_erlangs.toFixed(2)], ["st.need", last.agents],
      ["st.positions", last.positions], ["st.pw", pct(last.pw)], ["st.sl", pct(last.service_level)],
      ["st.asa", last.asa_s === null ? "∞" : last.asa_s.toFixed(1)], ["st.occ", pct(last.occupancy)],
      ["st.meets", t(last.meets_target ? "st.yes" : "st.no")]];
    for (const [k, v] of rows) { dl.append(el("dt", "", t(k)), el("dd", "", v)); dl.lastChild.id = `r-${k.slice(3)}`; }
  }
  async function run(ev) {
    if (ev) ev.preventDefault();
    const p = new URLSearchParams({ calls: $("s-calls").value, interval_s: $("s-interval").value, aht_s: $("s-aht").value,
      sl_target: String(Number($("s-target").value) / 100), sl_seconds: $("s-seconds").value,
      shrinkage: String(Number($("s-shrinkage").value || 0) / 100) });
    if ($("s-agents").value) p.set("agents", $("s-agents").value);
    if ($("s-maxocc").value) p.set("max_occupancy", String(Number($("s-maxocc").value) / 100));
    $("st-msg").textContent = "";
    try { last = await api("GET", `/api/supervisor/staffing?${p}`); render(); }
    catch (e) { last = null; render(); $("st-msg").textContent = t("err", { m: e.message }); }
  }
  window.Sup.S.onLang.push(render);
  window.Sup.start(() => { $("st-form").addEventListener("submit", run); run(); });
})();
