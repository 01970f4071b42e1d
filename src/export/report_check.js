// The report's own check, in the reviewer's browser, offline: the published station key
// (pasted by the reviewer, never the bundle's), the checkpoint's Ed25519 signature, each
// record's inclusion proof up to that checkpoint (RFC 9162), and the SHA-256 of the clip
// files dropped on the page against the sealed records. WebCrypto only; when the browser
// cannot check a signature it says so and claims nothing.
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
      state.proven = { size, records: proven, sealed: proven.filter((r) => r.kind === "clip_sealed") };
    } catch (e) {
      verdict("bad", T("FAILED: ", "失败：") + (e.message || e));
      return;
    }
    report();
  }

  // What the proven records say, in the page's own words; the merchant's statement is
  // flagged when it does not say the same times.
  function computed(p, orders) {
    const starts = p.sealed.map((r) => r.started_at).filter(Boolean).sort();
    const ends = p.sealed.map((r) => r.ended_at).filter(Boolean).sort();
    const from = starts[0] || "?";
    const to = ends[ends.length - 1] || "?";
    const c = $("pw-computed");
    c.hidden = false;
    c.textContent = T(`Checked on this page, from the proven records: ${p.sealed.length} clip(s) of ${orders}, recorded between ${from} and ${to} (station clock). Their time is not proven on this page.`,
      `本页根据已证明的记录检查：订单 ${orders} 的 ${p.sealed.length} 段录像，录制于 ${from} 至 ${to}（工位时钟）。本页不证明其时间。`);
    // Each row of the timeline: the clip, its times and hash as its proven seal says.
    for (const row of document.querySelectorAll("#pw-timeline tr[data-clip]")) {
      const seal = p.sealed.find((r) => String(r.clip) === row.dataset.clip);
      const same = seal && seal.started_at === row.dataset.start && seal.ended_at === row.dataset.end &&
        seal.sha256 === row.dataset.sha;
      row.classList.toggle("proven", !!same);
      row.classList.toggle("differs", !same);
    }
    const claimed = $("pw-claimed-text");
    if (claimed && !claimed.textContent.includes(`recorded between ${from} and ${to}`)) {
      $("pw-claimed").classList.add("differs");
      claimed.textContent = T("DIFFERS FROM THE PROVEN RECORDS: ", "与已证明的记录不符：") + claimed.textContent;
    }
  }

  function report() {
    const p = state.proven;
    if (!p) return;
    const orders = [...new Set(p.sealed.map((r) => r.order))].join(", ");
    computed(p, orders);
    const dropped = new Set(state.files.values());
    const ok = p.sealed.filter((r) => dropped.has(r.sha256)).length;
    const bad = [...state.files.entries()].filter(([, h]) => !p.sealed.some((r) => r.sha256 === h));
    const n = p.sealed.length;
    const head = T(`signed by the key, ${p.records.length} records proven in the log of ${p.size} lines; orders ${orders}`,
      `密钥签名有效，${p.records.length} 条记录已在 ${p.size} 行的日志中证明；订单 ${orders}`);
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
