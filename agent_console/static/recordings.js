// Supervisor playback on the reports page (docs/recording.md): the newest recordings of the queue
// and agent filters, each with an audio element streamed (HTTP Range) and audited by the server.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
  const first = (v) => (v || "").split(",").map((x) => x.trim()).filter(Boolean)[0] || "";

  async function load() {
    const q = new URLSearchParams({ limit: "50" });
    if (first($("f-queues") && $("f-queues").value)) q.set("queue", first($("f-queues").value));
    if (first($("f-agents") && $("f-agents").value)) q.set("agent_id", first($("f-agents").value));
    // The report's period (read in the call center's zone, as the report's), and a caller's number.
    if ($("f-start") && $("f-start").value) q.set("start", $("f-start").value);
    if ($("f-end") && $("f-end").value) q.set("end", $("f-end").value);
    if ($("r-number").value.trim()) q.set("number", $("r-number").value.trim());
    let rows;
    try { rows = await window.Sup.api("GET", `/api/recordings?${q}`); }
    catch (e) { $("rec-msg").textContent = window.Sup.t("err", { m: e.message }); return; }
    $("rec-msg").textContent = rows.length ? "" : window.Sup.t("rec.none");
    $("recordings").tBodies[0].replaceChildren(...rows.map((rec) => {
      const tr = document.createElement("tr");
      const audio = document.createElement("audio");
      audio.controls = true; audio.preload = "none"; audio.src = rec.url;
      const play = document.createElement("td"); play.append(audio);
      tr.append(cell(window.Sup.when(rec.started_at)), cell(rec.queue || "—"),
        cell(rec.agent_id || "—"), cell(rec.caller_number || ""), cell(`${Math.round(rec.duration_s)} s`),
        cell(rec.csat ? `${rec.csat}/5` : "—"), cell(String((rec.pauses || []).filter((p) => p.reason === "pause").length)),
        play);
      return tr;
    }));
  }
  document.addEventListener("DOMContentLoaded", () => {
    const form = $("rep-form");
    if (form) form.addEventListener("submit", () => { load().catch(() => {}); });
    $("rec-form").addEventListener("submit", (ev) => { ev.preventDefault(); load().catch(() => {}); });
    setTimeout(() => load().catch(() => {}), 300);
  });
})();
