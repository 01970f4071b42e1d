// The report's own check, in the reviewer's browser, offline: the published station key
// (pasted by the reviewer, never the bundle's), the checkpoint's Ed25519 signature, each
// record's inclusion proof up to that checkpoint (RFC 9162), and the SHA-256 of the clip
// files dropped on the page against the sealed records. WebCrypto only; when the browser
// cannot check a signature it says so and claims nothing. Once the records are proven, every
// order, code, time, hash and reason on the page is rewritten from them (the bundle's own text
// is the merchant's claim until then), and a test-pattern clip is named in the verdict.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("pw-data").textContent);
  const $ = (id) => document.getElementById(id);
  const zh = () => document.documentElement.lang.startsWith("zh");
  const T = (en, cn) => (zh() ? cn : en);
  const enc = new TextEncoder();
  const subtle = window.crypto && window.crypto.subtle;

  const b64 = (s) => Uint8Array.from(atob(s.trim()), (c) => c.charCodeAt(0));
  const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
  const cat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  };
  const sha = async (b) => new Uint8Array(await subtle.digest("SHA-256", b));
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  // A note verifier key: <name>+<key id, 8 hex>+<base64(0x01 || 32-byte Ed25519 key)>.
  async function parseKey(text) {
    const t = text.trim();
    const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(t);
    if (!m) throw new Error(T("the key is not NAME+ID+KEY (a note verifier key)", "密钥格式不是 名称+ID+密钥"));
    const raw = b64(m[3]);
    if (raw.length !== 33 || raw[0] !== 1) throw new Error(T("the key is not an Ed25519 note key", "不是 Ed25519 密钥"));
    const id = (await sha(cat(enc.encode(m[1]), Uint8Array.of(10), raw))).slice(0, 4);
    if (hex(id) !== m[2]) throw new Error(T("the key's ID does not match its name and key", "密钥 ID 与名称和密钥不符"));
    return { name: m[1], id, pub: raw.slice(1) };
  }

  // The signed text of a note (up to its last blank line) and its signature lines.
  function splitNote(note) {
    const at = note.lastIndexOf("\n\n");
    if (at < 0) throw new Error(T("the checkpoint has no signature", "检查点没有签名"));
    const body = note.slice(0, at + 1);
    const sigs = note.slice(at + 2).split("\n").filter((l) => l.startsWith("\u2014 "));
    return { body, sigs };
  }

  // RFC 9162 2.1.3.2: the root an inclusion path leads to from leaf `index` of `size`.
  async function verifyInclusion(index, size, leaf, path, root) {
    if (index >= size) return false;
    let fn = index, sn = size - 1, r = leaf;
    const odd = (x) => x % 2 === 1;
    for (const p of path) {
      if (sn === 0) return false;
      if (odd(fn) || fn === sn) {
        r = await sha(cat(Uint8Array.of(1), p, r));
        if (!odd(fn)) { while (!odd(fn) && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        r = await sha(cat(Uint8Array.of(1), r, p));
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && same(r, root);
  }

  // A c2sp.org/tlog-proof@v1 file: the record (extra), its index, the path, the note.
  function parseProof(text) {
    const at = text.indexOf("\n\n");
    const head = text.slice(0, at).split("\n");
    if (head[0] !== "c2sp.org/tlog-proof@v1") throw new Error("not a tlog-proof");
    let extra = null, index = null;
    const path = [];
    for (const l of head.slice(1)) {
      if (l.startsWith("extra ")) extra = b64(l.slice(6));
      else if (l.startsWith("index ")) index = Number(l.slice(6));
      else if (l) path.push(b64(l));
    }
    return { extra, index, path, note: text.slice(at + 2) };
  }

  // The records proven, and the files dropped (name -> SHA-256).
  const state = { proven: null, files: new Map() };

  function verdict(kind, text) {
    const v = $("pw-verdict");
    v.className = "verdict " + kind;
    v.textContent = text;
  }

  async function checkLog() {
    state.proven = null;
    if (!subtle) {
      verdict("unknown", T("COULD NOT CHECK: this page has no WebCrypto here (open it as a file in a current browser, or use verify.sh).",
        "无法检查：此浏览器在此处没有 WebCrypto（请在新版浏览器中以文件方式打开，或使用 verify.sh）。"));
      return;
    }
    const keyText = $("pw-key").value;
    if (!keyText.trim()) {
      verdict("unknown", T("NOT CHECKED: paste the station key the merchant published (not station.pub from this bundle).",
        "未检查：请粘贴商家公布的工位密钥（不是本证据包里的 station.pub）。"));
      return;
    }
    let key, pub;
    try {
      key = await parseKey(keyText);
      pub = await subtle.importKey("raw", key.pub, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      if (e && e.name === "NotSupportedError") {
        verdict("unknown", T("COULD NOT CHECK: this browser has no Ed25519 in WebCrypto (Chrome/Edge 137+, Firefox 129+, Safari 17+ have it); use verify.sh.",
          "无法检查：此浏览器的 WebCrypto 不支持 Ed25519（Chrome/Edge 137+、Firefox 129+、Safari 17+ 支持）；请使用 verify.sh。"));
      } else {
        verdict("bad", T("FAILED: ", "失败：") + (e.message || e));
      }
      return;
    }
    try {
      const { body, sigs } = splitNote(data.checkpoint);
      const lines = body.split("\n");
      if (lines[0] !== key.name) throw new Error(T(`the checkpoint is of log ${lines[0]}, not of key ${key.name}`, `检查点属于日志 ${lines[0]}，不属于密钥 ${key.name}`));
      let signed = false;
      for (const l of sigs) {
        const parts = l.split(" ");
        if (parts[1] !== key.name) continue;
        const s = b64(parts[2] || "");
        if (s.length !== 68 || !same(s.slice(0, 4), key.id)) continue;
        if (await subtle.verify("Ed25519", pub, s.slice(4), enc.encode(body))) signed = true;
      }
      if (!signed) throw new Error(T("the checkpoint is not signed by this key", "检查点不是此密钥签名的"));
      const size = Number(lines[1]);
      const root = b64(lines[2]);
      const proven = [];
      for (const [name, text] of Object.entries(data.proofs)) {
        const p = parseProof(text);
        if (p.note !== data.checkpoint) throw new Error(`${name}: ` + T("leads to another checkpoint", "指向另一个检查点"));
        const leaf = await sha(cat(Uint8Array.of(0), p.extra));
        if (!(await verifyInclusion(p.index, size, leaf, p.path, root))) {
          throw new Error(`${name}: ` + T("the record is not in the signed log", "该记录不在已签名的日志中"));
        }
        proven.push(JSON.parse(new TextDecoder().decode(p.extra)));
      }
      state.proven = { size, root: lines[2], records: proven, sealed: proven.filter((r) => r.kind === "clip_sealed") };
      state.key = keyText.trim();
      if (!state.claims) state.claims = compareClaims(state.proven);
    } catch (e) {
      verdict("bad", T("FAILED: ", "失败：") + (e.message || e));
      return;
    }
    report();
  }

  // A record time `2026-12-04T10:21:07.512+08:00` as the page writes it: the station's zone,
  // and UTC.
  function zones(t) {
    const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(t || "");
    const d = new Date(t);
    if (!m || isNaN(d)) return t || "";
    const ms = (m[3] || ".000").padEnd(4, "0").slice(0, 4);
    const u = d.toISOString();
    return `${m[1]} ${m[2]}${ms} ${m[4] === "Z" ? "+00:00" : m[4]} (${u.slice(0, 10)} ${u.slice(11, 23)} UTC)`;
  }
  // A value a record holds (a seal reason, a scan action, a code kind) in words.
  const W = (group, v) => { const w = (data.words || {})[`${group}_${v}`]; return w ? T(w[0], w[1]) : String(v); };
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  const isTestSource = (s) => s === "testsrc" || s === "testsrc2" || (s || "").startsWith("lavfi:");

  // The proven records, by kind and clip.
  function facts(p) {
    const kind = (k) => p.records.filter((r) => r.kind === k).sort((a, b) => a.seq - b.seq);
    const opened = kind("clip_opened");
    const starts = kind("station_start");
    const sealed = new Map(p.sealed.map((r) => [r.clip, r]));
    const pruned = new Set(kind("pruned").map((r) => r.clip));
    // A clip's source is a test pattern when its opening says so or, in records written
    // before openings said it, when the station's start in force names such a source.
    const test = (o) => {
      if (o.test_pattern !== undefined && o.test_pattern !== null) return o.test_pattern === true;
      const s = starts.filter((r) => r.seq < o.seq && r.station === o.station).pop();
      const i = s ? (s.cameras || []).indexOf(o.camera) : -1;
      return i >= 0 && isTestSource((s.sources || [])[i]);
    };
    const exports = kind("access").filter((r) => r.action === "export");
    return { opened, sealed, pruned, test, scans: kind("scan"), attached: kind("code_attached"),
      uploads: kind("access").filter((r) => r.derived), exported: exports[exports.length - 1] };
  }

  // Compares the bundle's own timeline (what the merchant claims) with the proven records,
  // once: which rows the records bear out, which differ.
  function compareClaims(p) {
    const f = facts(p);
    const rows = new Map();
    for (const row of document.querySelectorAll("#pw-timeline tr[data-clip]")) {
      const seal = f.sealed.get(Number(row.dataset.clip));
      const same = !!seal && seal.started_at === row.dataset.start && seal.ended_at === row.dataset.end &&
        seal.sha256 === row.dataset.sha;
      rows.set(row.dataset.clip, { same, file: row.dataset.file || "" });
    }
    return rows;
  }

  // Rewrites the timeline from the proven records: every cell but the file's place in the
  // bundle is a record's. A clip the bundle listed that no proven record bears out stays,
  // flagged.
  function rewriteTimeline(f, claims) {
    const table = $("pw-timeline");
    if (!table) return;
    const old = [...table.querySelectorAll("tr[data-clip]")];
    const seen = new Set();
    for (const o of f.opened) {
      const seal = f.sealed.get(o.seq);
      const claim = claims.get(String(o.seq));
      seen.add(String(o.seq));
      const tr = el("tr", undefined, claim && claim.same ? "proven" : "differs");
      tr.dataset.clip = o.seq;
      tr.dataset.start = seal ? seal.started_at : o.started_at;
      tr.dataset.end = seal ? seal.ended_at : "";
      tr.dataset.sha = seal ? seal.sha256 : "";
      const cam = el("td", o.camera);
      if (f.test(o)) { cam.append(el("br"), el("b", T("TEST PATTERN: not evidence", "测试画面：不是证据"))); }
      const scanned = el("td", zones(o.scanned_at));
      if (o.clock_synced === false) scanned.append(el("br"), el("b", T("clock not synchronised", "时钟未同步")));
      const why = el("td", seal ? W("reason", seal.reason) : "");
      if (seal && seal.dropped_frames) why.append(el("br"), T(`${seal.dropped_frames} frames left out (behind real time)`, `因落后于实时略去 ${seal.dropped_frames} 帧`));
      for (const s of (seal && seal.presets) || []) {
        why.append(el("br"), T(`preset ${s.preset} from ${zones(s.at)}: ${s.why}`, `自 ${zones(s.at)} 起编码预设 ${s.preset}：${s.why}`));
      }
      const pruned = f.pruned.has(o.seq);
      const file = !seal ? T("not sealed", "未封存")
        : claim && claim.file ? claim.file + (pruned ? T(" (pruned at the station; these bytes came from its archive)", "（工位上已删除；此文件取自其归档）") : "")
        : pruned ? T("pruned by retention; its records are proven below", "已按保留期限删除；其记录在下方得到证明") : "";
      const sha = el("td"); sha.append(el("code", seal ? seal.sha256 : ""));
      tr.append(el("td", String(o.seq)), cam, el("td", String(o.box || 1)), el("td", String(o.part)), scanned,
        el("td", zones(o.started_at)), el("td", seal ? zones(seal.ended_at) : T("(open)", "（未封存）")), why,
        el("td", o.operator || ""), sha, el("td", file));
      table.append(tr);
    }
    for (const row of old) {
      if (seen.has(row.dataset.clip)) { row.remove(); continue; }
      row.className = "differs";
      const first = row.firstElementChild;
      if (first && !first.dataset.flagged) {
        first.dataset.flagged = "1";
        first.prepend(T("NOT IN THE PROVEN RECORDS: ", "不在已证明的记录中："));
      }
    }
  }

  // The stills' captions, the scans, the MP4s made for upload, the waybills, the export and
  // the log, from the proven records and the checked checkpoint.
  function rewriteRest(f, p, orders, key) {
    const byClip = new Map(f.opened.map((o) => [o.seq, o]));
    for (const fig of document.querySelectorAll("figure[data-clip]")) {
      const o = byClip.get(Number(fig.dataset.clip));
      const seal = f.sealed.get(Number(fig.dataset.clip));
      const cap = fig.querySelector("figcaption");
      if (!cap) continue;
      if (!o) { cap.textContent = T("NOT IN THE PROVEN RECORDS", "不在已证明的记录中"); continue; }
      cap.textContent = fig.dataset.which === "start"
        ? T(`clip ${o.seq} first frame, pre-roll (${zones(o.started_at)}); order scanned ${zones(o.scanned_at)}`,
          `录像 ${o.seq} 第一帧，预录（${zones(o.started_at)}）；订单扫描于 ${zones(o.scanned_at)}`)
        : T(`clip ${o.seq} last frame before the seal (${seal ? zones(seal.ended_at) : ""})`,
          `录像 ${o.seq} 封存前最后一帧（${seal ? zones(seal.ended_at) : ""}）`);
    }
    const rows = (id, list, cells) => {
      const table = $(id);
      if (!table) return;
      for (const row of table.querySelectorAll("tr[data-line]")) row.remove();
      for (const r of list) {
        const tr = el("tr", undefined, "proven");
        tr.dataset.line = r.seq;
        for (const c of cells(r)) tr.append(typeof c === "string" ? el("td", c) : c);
        table.append(tr);
      }
    };
    rows("pw-scans", f.scans, (r) => [zones(r.scanned_at), r.code, W("code_kind", r.code_kind),
      W("action", r.action) + (r.detail ? ` (${W("reason", r.detail)})` : ""), r.scanner]);
    rows("pw-uploads", f.uploads, (r) => {
      const d = r.derived;
      const from = d.sources.map((s) => `${s.clip} (${(s.from_ms / 1000).toFixed(1)}–${(s.to_ms / 1000).toFixed(1)} s${s.burned_in ? T(", stamp burned in", "，已烧录水印") : ""})`).join(" ");
      return [r.to || "", d.sha256, String(d.size), r.at, r.who, from, `${d.encoder} · ${d.width}×${d.height}`];
    });
    const waybills = [...new Set([...f.attached.map((r) => r.code),
      ...f.scans.filter((r) => r.code_kind === "tracking").map((r) => r.code)])];
    if ($("pw-waybills")) $("pw-waybills").textContent = T("Waybills: ", "运单号：") + waybills.join(", ");
    if ($("pw-code")) $("pw-code").textContent = f.exported ? f.exported.code : orders;
    const e = f.exported;
    if ($("pw-exported")) {
      $("pw-exported").textContent = e
        ? T(`Exported ${zones(e.at)} by ${e.who}${e.to ? ` to ${e.to}` : ""}; station key ${key}.`, `导出时间 ${zones(e.at)}，导出人 ${e.who}${e.to ? `，导出到 ${e.to}` : ""}；工位密钥 ${key}。`)
        : T(`No proven export record. Station key ${key}.`, `没有已证明的导出记录。工位密钥 ${key}。`);
    }
    if ($("pw-log")) {
      $("pw-log").textContent = T(
        `Every clip below was recorded by the station, its SHA-256 written into the station's append-only, hash-chained manifest when it was sealed, and that manifest line is proven to be in the station's signed log (checkpoint of ${p.size} lines, root ${p.root}, signature checked on this page).`,
        `以下每段录像都由工位录制；封存时其 SHA-256 写入工位只可追加、哈希链接的清单，且该清单行已被证明在工位签名的日志中（${p.size} 行的检查点，根 ${p.root}，签名已在本页检查）。`);
    }
    if ($("pw-timeline-note")) {
      $("pw-timeline-note").textContent = T(
        "From the proven records, checked on this page: a ✓ marks a row the bundle's own table said the same of; a red row is one it said otherwise (or listed with no proven record).",
        "来自本页已检查的证明记录：✓ 表示证据包原表格所述相同的行；红色行表示证据包所述不同（或没有已证明记录）。");
    }
    if ($("pw-claims")) {
      $("pw-claims").textContent = T(
        "Below, the orders, codes, times, hashes and reasons are shown from the records this page proved (the bundle's own text was replaced; rows it listed that no proven record bears out are flagged). The time-stamps and witness cosignatures are as the bundle says: verify.sh and verify-bundle check them.",
        "以下订单、条码、时间、哈希和原因均来自本页已证明的记录（证据包自带的文字已被替换；没有已证明记录支持的行会被标出）。时间戳和见证者联署为证据包所述：由 verify.sh 和 verify-bundle 检查。");
    }
  }

  // What the proven records say, in the page's own words; the merchant's statement is
  // flagged when it does not say the same times, and every fact below is rewritten from the
  // proven records.
  function computed(p, orders) {
    const f = facts(p);
    const starts = p.sealed.map((r) => r.started_at).filter(Boolean).sort();
    const ends = p.sealed.map((r) => r.ended_at).filter(Boolean).sort();
    const from = starts[0] || "?";
    const to = ends[ends.length - 1] || "?";
    const tests = f.opened.filter(f.test).map((o) => o.seq);
    const c = $("pw-computed");
    c.hidden = false;
    c.textContent = T(`Checked on this page, from the proven records: ${p.sealed.length} clip(s) of ${orders}, recorded between ${from} and ${to} (station clock). Their time is not proven on this page.`,
      `本页根据已证明的记录检查：订单 ${orders} 的 ${p.sealed.length} 段录像，录制于 ${from} 至 ${to}（工位时钟）。本页不证明其时间。`);
    if (tests.length) {
      c.append(el("br"), el("b", T(`TEST PATTERN: clip(s) ${tests.join(", ")} were recorded from a test pattern, not a camera: they are no evidence of any packing.`,
        `测试画面：录像 ${tests.join("、")} 录自测试画面而非摄像头，不能证明任何打包过程。`)));
    }
    rewriteTimeline(f, state.claims);
    rewriteRest(f, p, orders, state.key);
    const claimed = $("pw-claimed-text");
    if (claimed && !$("pw-claimed").classList.contains("differs") && !claimed.textContent.includes(`recorded between ${from} and ${to}`)) {
      $("pw-claimed").classList.add("differs");
      claimed.textContent = T("DIFFERS FROM THE PROVEN RECORDS: ", "与已证明的记录不符：") + claimed.textContent;
    }
    return tests;
  }

  function report() {
    const p = state.proven;
    if (!p) return;
    const orders = [...new Set(p.sealed.map((r) => r.order))].join(", ");
    const tests = computed(p, orders);
    const dropped = new Set(state.files.values());
    const ok = p.sealed.filter((r) => dropped.has(r.sha256)).length;
    const bad = [...state.files.entries()].filter(([, h]) => !p.sealed.some((r) => r.sha256 === h));
    const n = p.sealed.length;
    const head = T(`signed by the key, ${p.records.length} records proven in the log of ${p.size} lines; orders ${orders}`,
      `密钥签名有效，${p.records.length} 条记录已在 ${p.size} 行的日志中证明；订单 ${orders}`) +
      (tests.length ? T(`; TEST PATTERN: clip(s) ${tests.join(", ")} are no evidence`, `；测试画面：录像 ${tests.join("、")} 不是证据`) : "");
    if (bad.length) {
      verdict("bad", T("FAILED: ", "失败：") + bad.map(([name]) => name).join(", ") +
        T(" match no sealed clip (changed or not of this order)", " 与任何已封存的录像都不符（被改动或不属于此订单）") + ". " + head);
    } else if (ok === n && n > 0) {
      // This page checks no time-stamp or cosignature: the clips' times are not proven here,
      // so it never says VERIFIED (the verdict on time is verify.sh's and verify-bundle's).
      verdict("partial", T(`TIME NOT PROVEN on this page: all ${n} clip files are the ones recorded; `, `此页未证明时间：全部 ${n} 个录像文件与录制时一致；`) + head +
        T(". This page does not check time-stamps or witness cosignatures, so here the times rest on the station's clock: run verify.sh (with TSA_CA and the witness keys) or packwitness verify-bundle for the verdict on time, and for completeness.",
          "。此页不检查时间戳和见证签名，因此这里的时间只依据工位时钟：请运行 verify.sh（带 TSA_CA 和见证密钥）或 packwitness verify-bundle，以判定时间和完整性。"));
    } else {
      verdict("partial", T(`PARTLY CHECKED: ${ok} of ${n} clip files checked; drop the clip files (clips/*.mp4) here. `,
        `部分检查：已检查 ${n} 个录像文件中的 ${ok} 个；请把录像文件（clips/*.mp4）拖到这里。`) + head);
    }
  }

  async function addFiles(files) {
    if (!subtle) return;
    for (const f of files) {
      state.files.set(f.name, hex(await sha(new Uint8Array(await f.arrayBuffer()))));
    }
    if (state.proven) report(); else await checkLog();
  }

  $("pw-check").addEventListener("click", checkLog);
  $("pw-files").addEventListener("change", (e) => addFiles(e.target.files));
  const drop = $("pw-drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });

  // The reader's language, switchable.
  if ((navigator.language || "").toLowerCase().startsWith("zh")) document.documentElement.lang = "zh-CN";
  $("pw-lang").addEventListener("click", () => {
    document.documentElement.lang = zh() ? "en" : "zh-CN";
    if (state.proven) report(); else checkLog();
  });
  checkLog();
  window.packwitnessReport = { checkLog, addFiles, state };
})();
