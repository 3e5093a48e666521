/* Interval reports: filters -> /api/supervisor/reports (JSON table), CSV export link, SVG trend charts.
   The table and the charts are the report last shown; the CSV link always follows the filters as they
   are now (a manager who changes the period and exports gets that period), and a hint says when the
   two differ. The charts' words (title, legend, target) are the page's language's. The queues offered
   (the filter's suggestions and placeholder) are the reader's: the wallboard's, which for a supervisor
   are their own queues (another's is refused with a 403 naming it; none given: all of theirs). */
"use strict";
(() => {
  const { $, t, api, el, pct, secs } = window.Sup;
  const COLS = ["offered", "answered", "abandoned_queue", "short_abandons", "abandoned_ivr", "service_level", "asa_s", "aht_s",
    "avg_hold_s", "abandon_rate", "occupancy", "utilization", "fcr", "csat_avg", "csat_satisfied", "csat_answers"];
  const RATES = new Set(["service_level", "abandon_rate", "occupancy", "utilization", "fcr", "csat_satisfied"]);
  let last = null;
  let shown = null;  // the filters of the report on screen (URLSearchParams), null before the first
  let runs = 0;  // Show pressed while a report is read: only the last one's answer is shown

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
  // The thresholds the row was computed with (each queue's own on a queue's row, 80/20 on totals):
  // T / SL target, and the short abandons left out (docs/kpis.md: every report states them).
  function thresholds(k) {
    return t(k.short_abandons_excluded ? "rep.basis_row" : "rep.basis_row_counted",
      { t: k.sl_seconds, p: pct(k.sl_target), s: k.short_abandon_s });
  }
  // A grouped report's row without a key: the calls that have none (IVR-only calls have no queue,
  // unanswered ones no agent), named, not a bare dash that reads as a missing figure.
  function keyLabel(key) {
    if (key) return key;
    return last.group_by ? t(`rep.nokey.${last.group_by}`) : "—";
  }
  function renderTable() {
    const head = $("report").querySelector("thead"), body = $("report").querySelector("tbody");
    head.replaceChildren(); body.replaceChildren();
    if (!last) return;
    const tr = el("tr");
    tr.append(el("th", "", t("rep.start_col")), el("th", "", t("rep.key")), ...COLS.map((c) => el("th", "", t(`c.${c}`))),
      el("th", "", t("rep.thresholds")));
    head.append(tr);
    const rows = last.rows.filter((r) => r.kpis.offered || r.kpis.ivr_only || r.key || r.kpis.handled);
    $("rep-msg").textContent = rows.length ? "" : t("rep.empty");
    for (const r of rows) {
      const row = el("tr");
      row.append(el("td", "num", r.start_local.slice(0, 16).replace("T", " ")), el("td", "", keyLabel(r.key)),
        ...COLS.map((c) => el("td", "num", cell(c, r.kpis[c]))), el("td", "num", thresholds(r.kpis)));
      body.append(row);
    }
  }
  function syncCsv() {
    $("csv-link").href = `/api/supervisor/reports?${params({ set: { format: "csv" } })}`;
    $("rep-stale").hidden = shown === null || params().toString() === shown.toString();
  }
  // The export reads the CSV first: filters the server refuses (To before From, an unknown queue)
  // are said under the filters, where a plain link would leave a failed download and no reason.
  async function exportCsv(ev) {
    ev.preventDefault();
    syncCsv();
    let r;
    try { r = await fetch($("csv-link").href, { credentials: "same-origin" }); }
    catch (e) { $("rep-msg").textContent = t("err", { m: e.message }); return; }  // the server is away
    if (!r.ok) {
      let m = r.statusText;
      try { const d = (await r.json()).detail || {}; m = d.message || m; } catch (_) { /* not JSON */ }
      $("rep-msg").textContent = t("err", { m });
      return;
    }
    const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
    const a = el("a");
    a.href = URL.createObjectURL(await r.blob());
    a.download = name ? name[1] : "report.csv";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }
  const CHARTS = [["chart-sl", "service_level", "line", "k.sl"], ["chart-offered", "offered", "bar", "c.offered"],
    ["chart-aht", "aht_s", "line", "c.aht_s"]];
  function renderCharts() {
    if (!shown) return;
    for (const [id, field, kind, key] of CHARTS) {
      const p = new URLSearchParams(shown);
      p.delete("group_by"); p.delete("agent");  // a trend is ungrouped, over the queues chosen
      for (const [k, v] of Object.entries({ field, kind, title: t(key), target_label: t("rep.target") })) p.set(k, v);
      $(id).src = `/api/supervisor/reports/chart.svg?${p}`;
      $(id).alt = t("rep.chart_alt", { f: t(key) });
    }
  }
  async function run(ev) {
    if (ev) ev.preventDefault();
    $("rep-msg").textContent = "…";
    const asked = params();
    const mine = ++runs;
    let got;
    try { got = await api("GET", `/api/supervisor/reports?${asked}`); }
    catch (e) { if (mine === runs) $("rep-msg").textContent = t("err", { m: e.message }); return; }
    if (mine !== runs) return;  // a later Show is under way: its report is the one to show
    last = got; shown = asked;
    renderTable();
    syncCsv();
    renderCharts();
  }
  window.Sup.S.onLang.push(renderTable, renderCharts);
  window.Sup.start(() => {
    $("rep-form").addEventListener("submit", run);
    for (const kind of ["input", "change"]) $("rep-form").addEventListener(kind, syncCsv);
    $("csv-link").addEventListener("click", exportCsv);
    syncCsv();
    run();
    api("GET", "/api/supervisor/wallboard").then((board) => {
      const mine = board.queues.map((q) => q.queue);
      $("f-queue-list").replaceChildren(...mine.map((q) => { const o = el("option"); o.value = q; return o; }));
      $("f-queues").placeholder = mine.slice(0, 2).join(", ");
    }).catch(() => {});
  });
})();
