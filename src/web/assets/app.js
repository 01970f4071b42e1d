// The customer-service app's script: search as you type, the live station board, and a
// player whose controls sit under the picture (so the burned-in stamp stays readable).
// The pages work without it; it only adds.

const $ = (sel, root = document) => root.querySelector(sel);
const zh = document.documentElement.lang.startsWith("zh");
const L = zh
  ? { play: "播放", pause: "暂停", full: "全屏", codes: "匹配的编号", none: "没有匹配的编号", searching: "搜索", no_video: "无录像" }
  : { play: "Play", pause: "Pause", full: "Full screen", codes: "Matching codes", none: "No code starts like this", searching: "Searching for", no_video: "NO VIDEO" };

// ---- search as you type ---------------------------------------------------------------
const q = $("#q");
const list = $("#suggest");
if (q && list) {
  let timer = null;
  let asked = 0;
  let active = -1;
  const items = () => [...list.querySelectorAll("a")];
  const mark = (i) => {
    const a = items();
    active = Math.max(-1, Math.min(i, a.length - 1));
    a.forEach((el, n) => el.classList.toggle("active", n === active));
  };
  async function suggest() {
    const text = q.value.trim();
    const n = ++asked;
    if (!text) { list.hidden = true; list.replaceChildren(); return; }
    let data;
    try {
      const r = await fetch(`/api/suggest?q=${encodeURIComponent(text)}`);
      data = await r.json();
    } catch (e) { return; }
    if (n !== asked) return;  // a later keystroke already asked
    const out = [];
    if (data.normalized && data.normalized !== text) {
      const li = document.createElement("li");
      li.className = "norm";
      li.textContent = `${L.searching} ${data.normalized}`;
      out.push(li);
    }
    for (const code of data.codes || []) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = `/order/${encodeURIComponent(code)}`;
      a.textContent = code;
      li.append(a);
      // A scan of it recorded no video: said at once (its page says why).
      if ((data.no_video || []).includes(code)) {
        const b = document.createElement("b");
        b.className = "bad";
        b.textContent = ` ${L.no_video}`;
        li.append(b);
      }
      out.push(li);
    }
    if (!(data.codes || []).length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = L.none;
      out.push(li);
    }
    list.replaceChildren(...out);
    list.hidden = false;
    active = -1;
  }
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, 120); });
  q.addEventListener("keydown", (e) => {
    if (list.hidden) return;
    if (e.key === "ArrowDown") { mark(active + 1); e.preventDefault(); }
    else if (e.key === "ArrowUp") { mark(active - 1); e.preventDefault(); }
    else if (e.key === "Enter" && active >= 0) { e.preventDefault(); location.href = items()[active].href; }
    else if (e.key === "Escape") { list.hidden = true; }
  });
  document.addEventListener("click", (e) => { if (!list.contains(e.target) && e.target !== q) list.hidden = true; });
}

// ---- the live station board -------------------------------------------------------------
const boardEl = document.getElementById("board");
const W = boardEl ? JSON.parse(boardEl.dataset.words || "{}") : {};
for (const row of document.querySelectorAll("#board tr[data-station]")) {
  const id = row.dataset.station;
  const es = new EventSource(`/api/stations/${encodeURIComponent(id)}/events`);
  const cell = (c) => row.querySelector(`td.${c}`);
  es.addEventListener("status", (e) => {
    const msg = JSON.parse(e.data);
    const h = msg.station && msg.station.health;
    const state = cell("state");
    if (!h) { const b = document.createElement("b"); b.className = "bad"; b.textContent = W.no_recorder; state.replaceChildren(b); return; }
    const b = document.createElement("b");
    b.className = h.state === "recording" ? "rec" : h.state === "not_recording" ? "bad" : "";
    b.textContent = W[h.state] || h.state;
    state.replaceChildren(b);
    if (h.no_video > 0) {
      const nv = document.createElement("b");
      nv.className = "bad nv";
      nv.title = W.no_video_since_start;
      nv.textContent = `${W.no_video} ×${h.no_video}`;
      state.append(document.createElement("br"), nv);
    }
    cell("order").textContent = h.order || "";
    cell("operator").textContent = h.operator || "";
    cell("cams").replaceChildren(...h.cameras.map((c) => {
      const s = document.createElement("span");
      s.className = c.state === "live" ? "ok" : "bad";
      s.textContent = `${c.camera} ${W["camstate_" + c.state] || c.state} `;
      return s;
    }));
    const a = h.last_scan && h.last_scan.action;
    cell("scan").textContent = h.last_scan ? `${h.last_scan.code} ${W["action_" + a] || a} ${h.last_scan.at.slice(11, 19)}` : "";
  });
  es.onerror = () => { cell("state").textContent = W.no_connection; };
}

// ---- the player ---------------------------------------------------------------------------
function fmt(s) {
  if (!isFinite(s)) return "--:--";
  s = Math.max(0, s);
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, "0")}:${(s % 60).toFixed(1).padStart(4, "0")}`;
}
for (const video of document.querySelectorAll("video.big")) {
  video.controls = false;
  const bar = document.createElement("div");
  bar.className = "controls";
  const play = document.createElement("button");
  play.type = "button";
  play.textContent = L.play;
  const seek = document.createElement("input");
  seek.type = "range"; seek.min = "0"; seek.max = "1000"; seek.value = "0";
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = "--:-- / --:--";
  const speed = document.createElement("select");
  for (const r of ["0.25", "0.5", "1", "2"]) {
    const o = document.createElement("option"); o.value = r; o.textContent = `${r}×`; if (r === "1") o.selected = true; speed.append(o);
  }
  const full = document.createElement("button");
  full.type = "button";
  full.textContent = L.full;
  bar.append(play, seek, time, speed, full);
  video.after(bar);
  play.addEventListener("click", () => (video.paused ? video.play() : video.pause()));
  video.addEventListener("click", () => (video.paused ? video.play() : video.pause()));
  video.addEventListener("play", () => (play.textContent = L.pause));
  video.addEventListener("pause", () => (play.textContent = L.play));
  video.addEventListener("timeupdate", () => {
    time.textContent = `${fmt(video.currentTime)} / ${fmt(video.duration)}`;
    if (video.duration) seek.value = String(Math.round((video.currentTime / video.duration) * 1000));
  });
  seek.addEventListener("input", () => {
    if (video.duration) video.currentTime = (Number(seek.value) / 1000) * video.duration;
  });
  speed.addEventListener("change", () => (video.playbackRate = Number(speed.value)));
  full.addEventListener("click", () => video.requestFullscreen && video.requestFullscreen());
}
