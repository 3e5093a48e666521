/* Interval reports: filters -> /api/supervisor/reports (JSON table), CSV export link, SVG trend charts. */
"use strict";
(() => {
  const { $, t, api, el, pct, secs } = window.Sup;
  const COLS = ["offered", "answered", "abandoned_queue", "short_abandons", "abandoned_ivr", "service_level", "asa_s", "aht_s",
    "avg_hold_s", "abandon_rate", "occupancy", "utilization", "fcr", "csat_avg", "csat_satisfied", "csat_answers"];
  const RATES = new Set(["service_level", "abandon_rate", "occupancy", "utilization", "fcr", "csat_satisfied"]);
  let last = null;

  function params(extra) {
    const p = new URLSearchParams();
    p.set("interval", $("f-interval").value);
    const g = $("f-group").value;
    if (g && !(extra && extra.nogroup)) p.set("group_by", g);
    if ($("f-start").value) p.set("start", $("f-start").value);
    if ($("f-end").value) p.set("end", $("f-end").value);
    for (const q of $("f-queues").value.split(",").map((x) => x.trim()).filter(Boolean)) p.append("queue", q);
    if (!(extra && extra.nogroup)) for (const a of $("f-agents").value.split(",").map((x) => x.trim()).filter(Boolean)) p.append("agent", a);
    for (const [k, v] of Object.entries((extra && extra.set) || {})) p.set(k, v);
    return p;
  }
  function cell(k, v) {
    if (RATES.has(k)) return pct(v);
    if (k.endsWith("_s")) return secs(v);
    return v === null || v === undefined ? "—" : v;
  }
  function renderTable() {
    const head = $("report").querySelector("thead"), body = $("report").querySelector("tbody");
    head.replaceChildren(); body.replaceChildren();
    if (!last) return;
    const tr = el("tr");
    tr.append(el("th", "", t("rep.start_col")), el("th", "", t("rep.key")), ...COLS.map((c) => el("th", "", t(`c.${c}`))));
    head.append(tr);
    const rows = last.rows.filter((r) => r.kpis.offered || r.kpis.ivr_only || r.key || r.kpis.handled);
    $("rep-msg").textContent = rows.length ? "" : t("rep.empty");
    for (const r of rows) {
      const row = el("tr");
      row.append(el("td", "num", r.start_local.slice(0, 16).replace("T", " ")), el("td", "", r.key || "—"),
        ...COLS.map((c) => el("td", "num", cell(c, r.kpis[c]))));
      body.append(row);
    }
  }
  async function run(ev) {
    if (ev) ev.preventDefault();
    $("rep-msg").textContent = "…";
    try { last = await api("GET", `/api/supervisor/reports?${params()}`); renderTable(); }
    catch (e) { $("rep-msg").textContent = t("err", { m: e.message }); return; }
    $("csv-link").href = `/api/supervisor/reports?${params({ set: { format: "csv" } })}`;
    const chart = (field, kind) => `/api/supervisor/reports/chart.svg?${params({ nogroup: true, set: { field, kind } })}`;
    $("chart-sl").src = chart("service_level", "line");
    $("chart-offered").src = chart("offered", "bar");
    $("chart-aht").src = chart("aht_s", "line");
  }
  window.Sup.S.onLang.push(renderTable);
  window.Sup.start(() => { $("rep-form").addEventListener("submit", run); run(); });
})();
