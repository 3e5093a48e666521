/* The agent's softphone in the browser (docs/softphone.md): SIP over WebSocket to Asterisk with
   SIP.js (served from node_modules at /vendor/sip.js), WebRTC audio. console.js tells it when the
   agent logs in or out (cti:login / cti:logout events) and hands it keypad digits; everything
   else (registration, ringing, answer, mute, devices, level meter) lives here. The engine's hold,
   transfer and hang-up stay in console.js: they act on the call in Asterisk, not in the browser. */
let Registerer, RegistererState, SessionState, UserAgent, Web;  // from SIP.js, imported at the first login

const $ = (id) => document.getElementById(id);
const P = {
  ua: null, registerer: null, session: null, incoming: null, stale: null, creds: null, status: "off", detail: "",
  muted: false, micId: "", speakerId: "", ctx: null, ring: null, meter: null, localStream: null,
  retry: 0, retryTimer: null, active: false, micProblem: "", noPhone: false, starting: null, micOpening: null,
  loose: false,  // the console sees no call of this agent's while this phone is on a line (setLoose)
};

// Strings live with the console's in i18n.js (phone.*).
function lang() { return localStorage.getItem("cti.lang") || (document.documentElement.lang || "en"); }
function t(key, vars) {
  const all = window.I18N || {};
  const table = all[lang()] || all.en || {};
  let s = table[key] || (all.en || {})[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace(`{${k}}`, String(v));
  return s;
}

// ---------- state shown at all times ----------
function setStatus(status, detail) {
  P.status = status; P.detail = detail || "";
  render();
}
function render() {
  const pill = $("phone-status");
  if (!pill) return;
  // Registered but without a usable microphone: calls would ring and could not be answered.
  const noMic = !!P.micProblem && P.status === "registered";
  const text = { off: t("phone.off"), desk: t("phone.desk"), sim: t("phone.sim"),
    connecting: t("phone.connecting"), registered: t(noMic ? "phone.registered_no_mic" : "phone.registered"),
    failed: t("phone.failed", { m: P.detail }), ringing: t("phone.ringing"), in_call: t("phone.in_call") }[P.status];
  pill.dataset.state = P.status;
  pill.dataset.mic = P.micProblem ? "missing" : "ok";
  pill.textContent = text;
  pill.title = P.detail;
  const card = $("phone-card");
  card.hidden = ["off", "desk", "sim"].includes(P.status);
  $("phone-message").textContent = P.status === "failed" || P.detail ? P.detail : "";
  $("phone-message").hidden = !$("phone-message").textContent;
  const ringing = !!P.incoming && !P.session;
  $("phone-answer").hidden = !ringing;
  $("phone-decline").hidden = !ringing;
  $("phone-mute").hidden = !P.session;
  const loose = !!P.session && P.loose;
  $("phone-hangup").hidden = !loose;
  if (loose) $("phone-message").textContent = t("phone.loose");
  $("phone-message").hidden = !$("phone-message").textContent;
  $("phone-mute").textContent = P.muted ? t("phone.unmute") : t("phone.mute");
  $("phone-mute").setAttribute("aria-pressed", String(P.muted));
  card.dataset.ringing = String(ringing);
}

// ---------- ring tone (Web Audio: no media file to load) ----------
function audioCtx() {
  if (!P.ctx) P.ctx = new AudioContext();
  if (P.ctx.state === "suspended") P.ctx.resume().catch(() => {});
  return P.ctx;
}
function startRing() {
  stopRing();
  const ctx = audioCtx();
  const gain = ctx.createGain();
  gain.gain.value = 0;
  gain.connect(ctx.destination);
  const oscs = [440, 480].map((f) => { const o = ctx.createOscillator(); o.frequency.value = f; o.connect(gain); o.start(); return o; });
  const cadence = () => {  // 2 s on, 4 s off
    const now = ctx.currentTime;
    gain.gain.setValueAtTime(0.15, now);
    gain.gain.setValueAtTime(0, now + 2);
  };
  cadence();
  P.ring = { oscs, gain, timer: setInterval(cadence, 6000) };
  document.body.dataset.phoneRinging = "true";
}
function stopRing() {
  if (!P.ring) return;
  clearInterval(P.ring.timer);
  P.ring.oscs.forEach((o) => o.stop());
  P.ring.gain.disconnect();
  P.ring = null;
  delete document.body.dataset.phoneRinging;
}

// ---------- microphone, speaker, level meter ----------
function micConstraints() {
  return { audio: P.micId ? { deviceId: { exact: P.micId } } : true, video: false };
}
function mediaError(err) {
  if (err && (err.name === "NotAllowedError" || err.name === "SecurityError")) return t("phone.err.denied");
  if (err && (err.name === "NotFoundError" || err.name === "OverconstrainedError")) return t("phone.err.no_mic");
  return (err && err.message) || String(err);
}
async function openMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw Object.assign(new Error("no mediaDevices"), { name: "NotFoundError" });
  if (P.localStream) P.localStream.getTracks().forEach((tr) => tr.stop());  // stop() fires no "ended"
  const stream = await navigator.mediaDevices.getUserMedia(micConstraints());
  P.localStream = stream;
  stream.getAudioTracks().forEach((tr) => tr.addEventListener("ended", () => micLost(stream)));
  P.micProblem = "";
  startMeter(stream);
  await fillDevices();
}
function liveMic() {
  return !!P.localStream && P.localStream.getAudioTracks().some((tr) => tr.readyState === "live");
}
// The microphone went away (unplugged, its permission withdrawn): shown on the card, and the console
// puts the agent not ready (cti:mic-lost), since a call offered now could not be answered. While a
// call rings, another microphone is asked for, else the ring is declined (declineWithoutMic).
function micLost(stream, problem) {
  if (!P.active || P.localStream !== stream) return;
  stopMeter();
  P.micProblem = problem || t("phone.err.mic_lost");
  showMicProblem();
  if (P.incoming && !P.session) declineWithoutMic(P.incoming);
  else micMissing(P.micProblem, false);
}
function micMissing(message, declined) {
  document.dispatchEvent(new CustomEvent("cti:mic-lost", { detail: { message, declined } }));
}
function showMicProblem() {
  if (["registered", "ringing", "in_call"].includes(P.status)) registeredStatus();
  else setStatus(P.status, P.micProblem || (P.status === "failed" ? P.detail : ""));
}
/** Why this browser phone could not answer a call now (its microphone missing, refused or lost), or
    null when it could, or when calls do not ring in the browser. The console asks before Ready; a
    microphone missing is asked for again (one plugged in since, another chosen). */
async function micCheck() {
  if (P.starting) await P.starting;
  if (!P.active || !P.creds || P.creds.kind !== "webrtc") return null;
  if (P.micOpening) await P.micOpening;
  if (liveMic()) return null;
  try {
    await openMicrophone();
  } catch (err) {
    P.micProblem = mediaError(err);
  }
  showMicProblem();
  return P.micProblem || null;
}
/** A ringing call meets a phone with no usable microphone (at the offer, as it goes while ringing, at
    Answer): micCheck asks for one again, and if none can be had the ring is declined (486, as the
    agent's Decline), so the call goes back to routing at once instead of failing at the answer (SIP
    480, a miss) or ringing out while the caller waits. The console says why and puts the agent not
    ready (cti:mic-lost, declined). True when there was no microphone. */
async function declineWithoutMic(inv) {
  const problem = await micCheck();
  if (!problem) return false;
  const declined = P.incoming === inv && !P.session;
  if (declined) decline();
  micMissing(problem, declined);
  return true;
}
// The level meter reads the microphone 10 times a second, and only while the page is visible: a
// requestAnimationFrame loop repainted the page 60 times a second from login to logout, CPU taken
// from the page's own work (an INVITE waits for the main thread: bench/softphone.py).
const METER_MS = 100;
function stopMeter() {
  if (!P.meter) return;
  clearInterval(P.meter.timer);
  P.meter.src.disconnect();
  P.meter = null;
}
function startMeter(stream) {
  stopMeter();
  const ctx = audioCtx();
  const src = ctx.createMediaStreamSource(stream);
  const an = ctx.createAnalyser();
  an.fftSize = 512;
  src.connect(an);
  const buf = new Float32Array(an.fftSize);
  const bar = $("phone-level");
  const step = () => {
    if (document.hidden) return;
    an.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    const level = P.muted ? 0 : Math.round(Math.min(1, Math.sqrt(sum / buf.length) * 4) * 50) / 50;
    if (bar.value !== level) bar.value = level;
  };
  P.meter = { src, an, timer: setInterval(step, METER_MS) };
}
async function fillDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (sel, kind, current) => {
    const opts = [new Option(t("phone.default"), "")];
    devices.filter((d) => d.kind === kind && d.deviceId && d.deviceId !== "default")
      .forEach((d, i) => opts.push(new Option(d.label || `${kind} ${i + 1}`, d.deviceId)));
    sel.replaceChildren(...opts);
    sel.value = current;
  };
  fill($("phone-mic"), "audioinput", P.micId);
  fill($("phone-speaker"), "audiooutput", P.speakerId);
  $("phone-speaker").disabled = typeof HTMLMediaElement.prototype.setSinkId !== "function";
}
async function chooseMic(id) {
  P.micId = id;
  try {
    await openMicrophone();
    const pc = P.session && P.session.sessionDescriptionHandler && P.session.sessionDescriptionHandler.peerConnection;
    if (pc) {
      const track = P.localStream.getAudioTracks()[0];
      const sender = pc.getSenders().find((s) => s.track && s.track.kind === "audio");
      if (sender) await sender.replaceTrack(track.clone());
      applyMute();
    }
    showMicProblem();
  } catch (err) {
    // The stream opened before is stopped already: without a microphone now, as if it were lost.
    if (liveMic()) setStatus(P.status, mediaError(err));
    else micLost(P.localStream, mediaError(err));
  }
}
async function chooseSpeaker(id) {
  P.speakerId = id;
  const audio = $("phone-audio");
  if (typeof audio.setSinkId === "function") await audio.setSinkId(id).catch((e) => setStatus(P.status, e.message));
}

// ---------- registration ----------
async function start() {
  if (P.active) return;
  P.active = true;
  setStatus("connecting");
  try {
    P.creds = await fetchJson("/api/phone/credentials");
  } catch (err) {
    // 403: no softphone for this user (staff without an extension), not a fault.
    if (err.status === 403) setStatus("off", err.message);
    else setStatus("failed", t("phone.err.credentials", { m: err.message }));
    P.active = false;
    return;
  }
  if (P.creds.kind !== "webrtc") {  // calls ring a desk phone or the simulated one: nothing to register
    setStatus(P.creds.kind === "sip" ? "desk" : "sim");
    return;
  }
  try {  // loaded only for a browser phone
    if (!UserAgent) ({ Registerer, RegistererState, SessionState, UserAgent, Web } = await import("/vendor/sip.js/index.js"));
  } catch (err) {
    setStatus("failed", t("phone.err.library"));
    P.active = false;
    return;
  }
  // Asked at login: the permission prompt comes now rather than on the first call, and the meter works.
  P.micOpening = openMicrophone().then(render).catch((err) => { P.micProblem = mediaError(err); setStatus(P.status, P.micProblem); })
    .finally(() => { P.micOpening = null; });
  connectUa();
}
async function fetchJson(path) {
  const res = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error((body.detail && body.detail.message) || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return body;
}
// Each call gets a clone of the microphone opened at login (the device chosen in the card): a fresh
// getUserMedia at every Answer would delay the 200 OK, hence the first audio (bench/softphone.py).
function callMicrophone(constraints) {
  return liveMic() ? Promise.resolve(P.localStream.clone()) : navigator.mediaDevices.getUserMedia(constraints);
}
// SIP.js sends the 200 OK once ICE gathering completes. Chromium has its UDP host candidates at once
// but reports "complete" ~150 ms later, after its relay and TCP phases (50 ms apart), which only
// matter with STUN/TURN servers: without any, the answer goes as soon as the host candidates are in.
function hostOnlyGathering(factory, hostOnly) {
  return (session, options) => {
    const sdh = factory(session, options);
    if (hostOnly) {
      sdh.peerConnectionDelegate = {
        onicecandidate: (ev) => {
          const c = ev.candidate && ev.candidate.candidate;
          if (c && / udp /i.test(c) && / typ host/.test(c)) setTimeout(() => sdh.iceGatheringComplete(), 20);
        },
      };
    }
    return sdh;
  };
}
function connectUa() {
  const c = P.creds;
  const ua = new UserAgent({
    uri: UserAgent.makeURI(c.uri),
    authorizationUsername: c.username,
    authorizationPassword: c.password,
    displayName: c.display_name,
    transportOptions: { server: c.ws_servers[0], traceSip: false, connectionTimeout: 5 },
    sessionDescriptionHandlerFactory: hostOnlyGathering(Web.defaultSessionDescriptionHandlerFactory(callMicrophone),
      !(c.ice_servers || []).length),
    sessionDescriptionHandlerFactoryOptions: {
      peerConnectionConfiguration: { iceServers: (c.ice_servers || []).map((u) => ({ urls: u })) },
      iceGatheringTimeout: 1000,
    },
    logLevel: "error", logBuiltinEnabled: false,
    delegate: { onInvite: onInvite, onDisconnect: onDisconnect, onConnect: () => { P.retry = 0; register(); } },
  });
  P.ua = ua;
  ua.start().catch((err) => { setStatus("failed", t("phone.err.server", { m: err.message })); scheduleReconnect(); });
}
function registeredStatus() {
  setStatus(P.session ? "in_call" : P.incoming ? "ringing" : "registered", P.micProblem || "");
}
function register() {
  if (!P.ua) return;
  if (!P.registerer) {
    P.registerer = new Registerer(P.ua, { expires: 120 });
    P.registerer.stateChange.addListener((st) => { if (st === RegistererState.Registered) registeredStatus(); });
  }
  setStatus("connecting");
  P.registerer.register({
    requestDelegate: {
      // After a reconnect the registerer may already be "Registered": its state does not change.
      onAccept: () => registeredStatus(),
      onReject: (resp) => {
        const m = resp.message;
        setStatus("failed", t("phone.err.refused", { m: `${m.statusCode} ${m.reasonPhrase}` }));
      },
    },
  }).catch((err) => setStatus("failed", t("phone.err.server", { m: err.message })));
}
function onDisconnect(err) {
  if (!P.active) return;
  if (err) {
    // Asterisk binds a call's dialog to the WebSocket it came on: the call (or ring) in progress can
    // no longer be signalled. Its media may still flow, so it is kept, but marked: when the PBX ends
    // its side (no more RTP: docs/softphone.md) and rings this phone again, the new ring replaces it.
    P.stale = P.session || P.incoming;
    setStatus("failed", t("phone.err.network")); scheduleReconnect();
  }
}
function dropStale() {
  const s = P.stale;
  P.stale = null;
  if (P.session === s) P.session = null;
  if (P.incoming === s) P.incoming = null;
  stopRing();
  P.muted = false;
  $("phone-audio").srcObject = null;
  s.dispose().catch(() => {});  // its BYE, if any, gets a 481: the PBX already ended that leg
}
function scheduleReconnect() {
  if (!P.active || P.retryTimer) return;
  const delay = Math.min(15000, 500 * 2 ** P.retry++);
  P.retryTimer = setTimeout(() => {
    P.retryTimer = null;
    if (!P.active || !P.ua) return;
    P.ua.reconnect().catch(() => scheduleReconnect());  // onConnect registers again
  }, delay);
}
async function stop() {
  P.active = false;
  clearTimeout(P.retryTimer); P.retryTimer = null;
  stopRing();
  try { if (P.session) await P.session.bye(); } catch (_) { /* gone */ }
  try { if (P.registerer) await P.registerer.unregister(); } catch (_) { /* gone */ }
  try { if (P.ua) await P.ua.stop(); } catch (_) { /* gone */ }
  if (P.localStream) P.localStream.getTracks().forEach((tr) => tr.stop());
  stopMeter();
  Object.assign(P, { ua: null, registerer: null, session: null, incoming: null, stale: null, creds: null,
    localStream: null, muted: false, micProblem: "", micOpening: null });
  setStatus("off");
}

// ---------- calls ----------
function onInvite(invitation) {
  if (P.stale && (P.stale === P.session || P.stale === P.incoming)) dropStale();
  if (P.session || P.incoming) { invitation.reject({ statusCode: 486 }); return; }
  P.incoming = invitation;
  invitation.stateChange.addListener((st) => {
    if (st === SessionState.Established) {
      stopRing();
      P.session = invitation; P.incoming = null;
      attachRemote(invitation);
      applyMute();
      setStatus("in_call", P.micProblem || "");
    } else if (st === SessionState.Terminated) {
      if (P.stale === invitation) P.stale = null;
      if (P.incoming !== invitation && P.session !== invitation) return;  // a stale call, already replaced
      stopRing();
      if (P.incoming === invitation) P.incoming = null;
      if (P.session === invitation) P.session = null;
      P.muted = false;
      $("phone-audio").srcObject = null;
      setStatus(P.registerer && P.registerer.state === RegistererState.Registered ? "registered" : P.status === "failed" ? "failed" : "connecting", P.detail);
    }
  });
  startRing();
  setStatus("ringing", P.micProblem || "");
  if (!liveMic()) declineWithoutMic(invitation);
}
function attachRemote(session) {
  const sdh = session.sessionDescriptionHandler;
  const audio = $("phone-audio");
  audio.srcObject = sdh.remoteMediaStream;
  if (P.speakerId && typeof audio.setSinkId === "function") audio.setSinkId(P.speakerId).catch(() => {});
  audio.play().catch(() => {});
}
async function answer() {
  const inv = P.incoming;
  if (!inv || P.session) return;
  if (!liveMic() && await declineWithoutMic(inv)) return;
  if (P.incoming !== inv || P.session) return;  // ended (or answered) while the microphone was asked for
  stopRing();
  try {
    await inv.accept({ sessionDescriptionHandlerOptions: { constraints: micConstraints() } });
  } catch (err) {
    // SIP.js has already answered the INVITE itself (480, or 415) and ended the call (a caller's
    // CANCEL meanwhile resolves accept instead): nothing is left to reject, and the phone is still
    // registered. The microphone was checked just above and each call gets a clone of it, so the
    // cause is this call's (the caller's media refused, no ICE): said on the card until the next ring.
    setStatus(P.status, t("phone.err.answer_failed", { m: mediaError(err) }));
  }
}
function decline() {
  const inv = P.incoming;
  if (!inv || P.session) return;
  stopRing();
  inv.reject({ statusCode: 486 }).catch(() => {});
}
function applyMute() {
  const pc = P.session && P.session.sessionDescriptionHandler && P.session.sessionDescriptionHandler.peerConnection;
  if (!pc) return;
  pc.getSenders().forEach((s) => { if (s.track && s.track.kind === "audio") s.track.enabled = !P.muted; });
}
// A line the engine no longer shows as a call (the console's setLoose): the phone's own Hang up. On
// a call the engine knows, Hang up is the console's (the engine's), never this: a browser leg ending
// by itself is a reload to the engine, which keeps the caller on hold to ring this phone again.
function setLoose(loose) {
  if (P.loose === loose) return;
  P.loose = loose;
  render();
}
function hangUpLoose() {
  if (P.session && P.loose) P.session.bye().catch(() => {});
}
function toggleMute() {
  if (!P.session) return;
  P.muted = !P.muted;
  applyMute();
  render();
}
/** A keypad digit as RFC 4733 telephone-event on the call's RTP; false when there is no browser call.
    insertDTMF replaces the sender's tone buffer, so a digit pressed while another still plays is
    appended to what is left instead of cutting it off. */
function sendDtmf(digit) {
  const pc = P.session && P.session.sessionDescriptionHandler && P.session.sessionDescriptionHandler.peerConnection;
  const sender = pc && pc.getSenders().find((s) => s.dtmf);
  if (!sender || !sender.dtmf.canInsertDTMF) return false;
  sender.dtmf.insertDTMF(sender.dtmf.toneBuffer + digit, 160, 70);
  return true;
}
/** Inbound/outbound audio counters of the call (getStats), for diagnostics and tests. */
async function stats() {
  const pc = P.session && P.session.sessionDescriptionHandler && P.session.sessionDescriptionHandler.peerConnection;
  if (!pc) return null;
  const out = {};
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") {
      out.inbound = { packetsReceived: r.packetsReceived, audioLevel: r.audioLevel, totalAudioEnergy: r.totalAudioEnergy };
    }
    if (r.type === "outbound-rtp" && r.kind === "audio") out.outbound = { packetsSent: r.packetsSent, bytesSent: r.bytesSent };
  });
  return out;
}

// ---------- wiring ----------
function onKey(ev) {
  if (P.status === "off" || ev.ctrlKey || ev.metaKey || ev.altKey || document.querySelector("dialog[open]")) return;
  const tag = (ev.target && ev.target.tagName) || "";
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag)) return;
  const k = ev.key.toLowerCase();
  if (k === "a" && P.incoming) { ev.preventDefault(); answer(); }
  else if (k === "x" && P.incoming && !P.session) { ev.preventDefault(); decline(); }
  else if (k === "m" && P.session) { ev.preventDefault(); toggleMute(); }
}
// The phone card, the same on the console and the wallboard: built into #phone-slot (static
// markup only; its labels keep data-i18n so the pages' language switch translates them).
const CARD = `
  <div class="phone-row">
    <button id="phone-answer" class="btn go" hidden><span data-i18n="phone.answer"></span> <kbd>A</kbd></button>
    <button id="phone-decline" class="btn danger" hidden><span data-i18n="phone.decline"></span> <kbd>X</kbd></button>
    <button id="phone-mute" class="btn" hidden aria-pressed="false"></button>
    <button id="phone-hangup" class="btn danger" hidden><span data-i18n="phone.hangup"></span></button>
    <label><span data-i18n="phone.mic"></span> <select id="phone-mic"></select></label>
    <label><span data-i18n="phone.speaker"></span> <select id="phone-speaker"></select></label>
    <label><span data-i18n="phone.level"></span> <meter id="phone-level" min="0" max="1" value="0"></meter></label>
  </div>
  <p id="phone-message" class="phone-message" role="alert" hidden></p>
  <audio id="phone-audio" autoplay></audio>`;
function buildCard() {
  const slot = $("phone-slot");
  if (!slot || $("phone-card")) return;
  const card = document.createElement("div");
  Object.assign(card, { id: "phone-card", className: slot.dataset.class || "phone", hidden: true, innerHTML: CARD });
  card.dataset.ringing = "false";
  card.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
  slot.replaceWith(card);
}
function wire() {
  buildCard();
  $("phone-answer").addEventListener("click", answer);
  $("phone-decline").addEventListener("click", decline);
  $("phone-mute").addEventListener("click", toggleMute);
  $("phone-hangup").addEventListener("click", hangUpLoose);
  $("phone-mic").addEventListener("change", (ev) => chooseMic(ev.target.value));
  $("phone-speaker").addEventListener("change", (ev) => chooseSpeaker(ev.target.value));
  document.addEventListener("keydown", onKey);
  // After a page reload (no click yet) the browser keeps the AudioContext suspended: the first
  // click or key makes the ring tone audible again.
  const wake = () => { if (P.ctx && P.ctx.state === "suspended") P.ctx.resume().catch(() => {}); };
  document.addEventListener("pointerdown", wake, true);
  document.addEventListener("keydown", wake, true);
  // The console (agents) and the wallboard (supervisors with an extension: detail.phone) log in.
  // /api/me's phone: false (staff without an extension): no phone, and nothing to ask the server.
  document.addEventListener("cti:login", (ev) => {
    const me = ev.detail;
    if (me && me.phone === false) { P.noPhone = true; setStatus("off", t("phone.no_extension")); return; }
    if (me && (me.agent_id || me.phone)) {
      P.starting = start().finally(() => { P.starting = null; });
    }
  });
  document.addEventListener("cti:logout", () => { stop(); });
  // A reload or a closed tab: hang up the browser's leg at once. The engine keeps the caller on
  // music and rings this console again once it is back (docs/softphone.md).
  window.addEventListener("pagehide", () => { if (P.session) P.session.bye().catch(() => {}); });
  document.addEventListener("cti:lang", () => {
    document.querySelectorAll("#phone-card [data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
    if (P.noPhone && P.status === "off") P.detail = t("phone.no_extension");
    render();
  });
  render();
}

window.ctiPhone = {
  get status() { return P.status; }, get detail() { return P.detail; }, sendDtmf, stats, answer, decline, toggleMute, stop,
  micCheck, setLoose,
  /** The ring tone is playing: oscillators started on a running (not autoplay-suspended) AudioContext. */
  get ringAudible() { return !!P.ring && !!P.ctx && P.ctx.state === "running"; },
};
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire); else wire();
