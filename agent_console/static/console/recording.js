/* Recording: pause/resume on the live call (the record button), playback in the history. */
import { $, S, t, el, toast, api } from "./core.js";

// ---------- recording: pause/resume on the live call, playback in the history ----------
// (docs/recording.md) The server says whether the call is recorded; only its agent may pause.
export function syncRecording(live) {
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
export function recordingToggle() {
  if (!S.rec || S.rec.state === "off") return;
  const action = S.rec.state === "paused" ? "resume" : S.rec.state === "available" ? "start" : "pause";
  api("POST", `/api/calls/${encodeURIComponent(S.rec.linkedid)}/recording/${action}`)
    .then((r) => { S.rec = r; paintRecording(); })
    .catch((e) => toast(e.message, "error"));
}
export function playbackButton(interactionId) {
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
