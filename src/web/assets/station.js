// The station screen: what the packer sees above the packing table.
// Pushed the station's status (server-sent events); shows the live picture of each camera,
// the open order, REC with the time since the scan, the last scan, "saved" when a clip is
// sealed. A camera that records nothing gets its own red panel saying, in plain words, what
// is wrong and the one thing to do (the raw error small below); NOT RECORDING covers the
// screen, with the order just scanned, only when nothing of the order is recorded or the
// recorder cannot be reached. A screen refused (unpaired, its login ended) reloads to its
// pairing page: never shown as a camera fault. Sounds are made here (Web Audio).

const boot = JSON.parse(document.getElementById("boot").textContent);
const S = boot.strings;
const $ = (id) => document.getElementById(id);

// ---- sounds ---------------------------------------------------------------------------
let audio = null;
function soundOn() {
  if (!audio) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx) audio = new Ctx();
  }
  if (audio && audio.state === "suspended") audio.resume();
  const on = audio && audio.state !== "suspended";
  $("sound").textContent = on ? S.sound_on : S.sound_off;
  $("sound").classList.toggle("on", !!on);
}
$("sound").addEventListener("click", soundOn);
// A kiosk started with --autoplay-policy=no-user-gesture-required has sound at once.
soundOn();

function tone(freq, start, dur, type = "sine", gain = 0.25) {
  if (!audio || audio.state !== "running") return;
  const t = audio.currentTime + start;
  const o = audio.createOscillator();
  const g = audio.createGain();
  o.type = type;
  o.frequency.value = freq;
  g.gain.setValueAtTime(gain, t);
  g.gain.exponentialRampToValueAtTime(0.001, t + dur);
  o.connect(g).connect(audio.destination);
  o.start(t);
  o.stop(t + dur + 0.02);
}
const sounds = {
  start: () => { tone(660, 0, 0.12); tone(880, 0.13, 0.18); },
  saved: () => { tone(880, 0, 0.1); tone(1100, 0.11, 0.1); tone(1320, 0.22, 0.25); },
  rejected: () => { tone(180, 0, 0.5, "square", 0.2); },
  alarm: () => { tone(950, 0, 0.35, "sawtooth", 0.2); tone(650, 0.4, 0.35, "sawtooth", 0.2); },
};
window.packwitnessSounds = [];  // what was played, for tests and for the curious
function play(name) {
  window.packwitnessSounds.push(name);
  sounds[name]();
}

// ---- live pictures ----------------------------------------------------------------------
function startPreview(camera) {
  const box = document.createElement("figure");
  box.className = "cam";
  const img = document.createElement("img");
  img.alt = `${S.camera} ${camera}`;
  const cap = document.createElement("figcaption");
  cap.textContent = camera;
  const trouble = document.createElement("div");
  trouble.className = "trouble";
  trouble.hidden = true;
  const what = document.createElement("div");
  what.className = "what";
  const todo = document.createElement("div");
  todo.className = "do";
  const detail = document.createElement("div");
  detail.className = "detail";
  trouble.append(what, todo, detail);
  box.append(img, cap, trouble);
  $("cameras").append(box);
  let seq = 0;
  const url = `/api/stations/${encodeURIComponent(boot.station)}/cameras/${encodeURIComponent(camera)}/preview.jpg`;
  async function next() {
    try {
      const r = await fetch(`${url}?after=${seq}`, { cache: "no-store" });
      if (r.status === 401 || r.status === 403) checkAccess();
      if (!r.ok) throw new Error(await r.text());
      seq = Number(r.headers.get("x-preview-seq")) || seq + 1;
      const old = img.src;
      img.src = URL.createObjectURL(await r.blob());
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      box.classList.remove("nopic");
      setTimeout(next, 250);
    } catch (e) {
      box.classList.add("nopic");
      cap.textContent = `${camera}: ${S.no_picture}`;
      setTimeout(next, 1500);
      return;
    }
    cap.textContent = camera;
  }
  next();
  return { box, cap, trouble, what, todo, detail };
}

// Refused (unpaired, revoked, the login ended): the page itself, reloaded, says so in large
// type. Unreachable: the caller says "no connection".
let checking = false;
async function checkAccess() {
  if (checking) return;
  checking = true;
  try {
    const r = await fetch(location.pathname, { method: "HEAD", cache: "no-store" });
    if (r.status === 401 || r.status === 403 || r.status === 429) location.reload();
  } catch (e) {
    // The server is away: "no connection" stands.
  } finally {
    checking = false;
  }
}
const previews = Object.fromEntries(boot.cameras.map((c) => [c, startPreview(c)]));

// ---- the status ----------------------------------------------------------------------
let last = null;          // the previous station report
let since = null;         // [elapsed at the event, when it came]
let alarmTimer = null;
let downBefore = 0;       // cameras recording nothing at the previous event
let savedTimer = null;

// A recorded time (RFC 3339, the station's zone) as the wall clock shows it.
const clock = (at) => (at && at.length >= 19 ? at.slice(11, 19) : at || "");

function mmss(s) {
  s = Math.max(0, Math.floor(s));
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}
setInterval(() => {
  $("elapsed").textContent = since ? mmss(since[0] + (performance.now() - since[1]) / 1000) : "";
}, 250);

// An order number never breaks across lines: its text shrinks until it fits on one.
function fit(el) {
  el.style.fontSize = "";
  let size = parseFloat(getComputedStyle(el).fontSize);
  while (el.scrollWidth > el.clientWidth && size > 10) {
    size *= 0.9;
    el.style.fontSize = `${size}px`;
  }
}
addEventListener("resize", () => { fit($("order")); fit($("alert-order")); });

// The screen-wide alarm: a title, the open order, what is wrong and what to do in plain
// words, the technical detail small.
function alert(title, why, todo, detail, order) {
  const a = $("alert");
  if (title) {
    $("alert-title").textContent = title;
    $("alert-order").textContent = order ? `${S.order_not_recorded} ${order}` : "";
    fit($("alert-order"));
    $("alert-why").textContent = why || "";
    $("alert-do").textContent = todo || "";
    $("alert-detail").textContent = detail || "";
    a.hidden = false;
    document.body.classList.add("alarm");
    if (!alarmTimer) { play("alarm"); alarmTimer = setInterval(() => play("alarm"), 2000); }
  } else {
    a.hidden = true;
    document.body.classList.remove("alarm");
    if (alarmTimer) { clearInterval(alarmTimer); alarmTimer = null; }
  }
}

function show(msg) {
  $("clock").textContent = msg.now || "";
  const st = msg.station;
  const h = st && st.health;
  if (!h) {
    alert(S.no_connection, "", "", (msg.problems || []).join("; "));
    return;
  }
  // Cameras: what their frames say, never what was asked. Each one that records nothing
  // has its panel say why, in plain words.
  const troubles = Object.fromEntries((msg.troubles || []).map((t) => [t.camera, t]));
  const down = [];
  for (const c of h.cameras) {
    const t = troubles[c.camera] || {};
    if (t.trouble) down.push(`${c.camera}: ${S[t.trouble]}`);
    const p = previews[c.camera];
    if (!p) continue;
    p.box.classList.toggle("down", !!t.trouble);
    p.box.dataset.state = c.state;
    p.box.dataset.trouble = t.trouble || "";
    p.trouble.hidden = !t.trouble;
    p.what.textContent = t.trouble ? S[t.trouble] : "";
    p.todo.textContent = t.trouble ? S[t.trouble + "_do"] : "";
    p.detail.textContent = t.trouble ? t.detail || "" : "";
  }
  // What else is wrong: a camera down while another records, the clock, then the rest as
  // the recorder says it (for the lead).
  const problems = [...down];
  if (msg.clock_unsynced) problems.push(S.clock_unsynced);
  problems.push(...(msg.other || []));
  $("problems").hidden = problems.length === 0;
  $("problems").textContent = problems.join(" · ");
  if (down.length > downBefore) play("alarm");
  downBefore = down.length;
  const recording = h.state === "recording";
  document.body.dataset.state = h.state;
  $("rec").classList.toggle("on", recording);
  $("rec-label").textContent = recording
    ? S.rec
    : h.state === "not_recording"
      ? S.not_recording
      : h.state === "starting"
        ? S.starting
        : S.idle;
  if ($("order").textContent !== (h.order || S.scan_to_start)) {
    $("order").textContent = h.order || S.scan_to_start;
    $("order").classList.toggle("prompt", !h.order);
    fit($("order"));
  }
  const detail = [];
  if (h.box && h.box > 1) detail.push(`${S.box} ${h.box}`);
  if (h.operator) detail.push(`${S.operator}: ${h.operator}`);
  // The archive, when something waits longer than a minute or it cannot be reached.
  const ar = msg.archive;
  if (ar && ar.refused) {
    detail.push(S.archive_refused);
  } else if (ar && (ar.failing || ar.lagging || (ar.age_s || 0) > 60)) {
    const waiting = ar.clips || (ar.age_s || 0) > 60
      ? S.archive_waiting.replace("{n}", ar.clips).replace("{m}", Math.floor((ar.age_s || 0) / 60))
      : null;
    detail.push([waiting, ar.failing ? S.archive_unreachable : null].filter(Boolean).join(" · "));
  }
  $("detail").textContent = detail.join(" · ");
  since = h.order && h.elapsed_s != null ? [h.elapsed_s, performance.now()] : null;
  if (msg.data_disk) {
    // A data disk gone: said in the screen's language (what and what to do in one).
    alert(S.not_recording, S["disk_" + msg.data_disk_problem], "", msg.data_disk_what, h.order);
  } else if (h.state === "not_recording") {
    const key = msg.station_trouble || "cam_all_down";
    alert(S.not_recording, S[key], S[key + "_do"], h.not_recording, h.order);
  } else if (!msg.recording_process) {
    alert(S.no_connection, "", "", (msg.problems || []).join("; "));
  } else {
    alert(null);
  }
  // What happened since the last event: a scan, a refusal, a saved clip.
  const ls = $("last-scan");
  if (last && h.rejects > last.rejects && h.last_rejection) {
    ls.className = "bad";
    // The reason in the page's language; a code rule's own message as the merchant wrote it.
    const r = h.last_rejection;
    const why = S[`reject_${r.why}`] || r.error;
    ls.textContent = `${S.rejected}: ${r.scan} (${r.rule_message ? `${why}: ${r.rule_message}` : why})`;
    play("rejected");
  } else if (h.last_scan && (!last || h.scans > last.scans)) {
    ls.className = "good";
    const did = S["action_" + h.last_scan.action] || h.last_scan.action;
    ls.textContent = `${S.scanned}: ${h.last_scan.code} · ${did} · ${clock(h.last_scan.at)}`;
    if (last && h.order && h.order !== last.order) play("start");
  }
  const saved = h.cameras.map((c) => c.last_saved).filter(Boolean).sort((a, b) => (a.at < b.at ? 1 : -1))[0];
  const key = (r) => r ? r.cameras.map((c) => (c.last_saved ? c.last_saved.n : 0)).join(",") : "";
  if (saved && last && key(h) !== key(last)) {
    const el = $("saved");
    el.textContent = `${S.saved}: ${saved.order} · ${saved.seconds.toFixed(1)} ${S.seconds}`;
    el.hidden = false;
    play("saved");
    clearTimeout(savedTimer);
    savedTimer = setTimeout(() => { el.hidden = true; }, 6000);
  }
  last = h;
}

function connect() {
  const es = new EventSource(`/api/stations/${encodeURIComponent(boot.station)}/events`);
  let watchdog = null;
  // Lost: nothing on the screen may look live (the timer stops), and a refusal reloads.
  const lost = () => {
    since = null;
    $("rec").classList.remove("on");
    $("rec-label").textContent = S.no_connection;
    alert(S.no_connection, "", "", "", last && last.order);
    checkAccess();
  };
  // Events come at least every second (the clock): three seconds of silence is a lost link.
  const arm = () => { clearTimeout(watchdog); watchdog = setTimeout(lost, 3000); };
  es.addEventListener("status", (e) => { arm(); show(JSON.parse(e.data)); });
  es.onerror = () => { lost(); };
  arm();
}
connect();
