/* kefu chat widget (docs/widget.md). One tag on any site:
     <script src="https://KEFU/widget.js" data-tenant="default" async></script>
   It talks to the kefu its own src names, draws inside a shadow root, and leaves one global,
   window.kefuWidget. Unsent messages wait in localStorage with their client_message_id and are
   resent in order with that same id, so the server stores each once. The server serves this
   file with widget-ui.js included where marked below and widget.css in the CSS string. */
(() => {
  "use strict";
  // currentScript is null only in odd hosts (e.g. some loaders): then the last tag naming us.
  const script = document.currentScript || [...document.scripts].reverse().find((s) => /\/widget\.js(\?|$)/.test(s.src));
  if (!script || !script.src || window.kefuWidget) return;  // loaded twice: the first one stays
  const CSS = "__KEFU_WIDGET_CSS__";  // widget.css, inlined by the server
  const BASE = new URL(script.src, location.href).origin;
  const attr = (name) => (script.getAttribute("data-" + name) || "").trim();
  const TENANT = attr("tenant") || "default";
  // A signed-in customer of the operator's app: their id, name and the HMAC the operator's
  // server made of the id (KEFU_CUSTOMER_IDENTITY_KEY), so flows may act on their account.
  const CUSTOMER = attr("customer");
  // Stored per customer too: someone else signing in on this browser never sees the chat.
  const KEY = "kefu:" + BASE + ":" + TENANT + (CUSTOMER ? ":" + CUSTOMER : "");
  const GONE = new Set([401, 404]);
  const REJECTED = new Set([400, 413, 415, 422]);

  // zh|en as asked; "auto" or nothing: the browser's first zh/en language, else kefu's default.
  function chosenLanguage() {
    const asked = attr("lang").toLowerCase();
    if (asked === "zh" || asked === "en") return asked;
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const code = String(tag).slice(0, 2).toLowerCase();
      if (code === "zh" || code === "en") return code;
    }
    return null;
  }

  // -- storage: the conversation and the outbox survive reloads (memory if storage is off) --
  let memory = { conv: null, outbox: [] };
  function load() {
    try {
      const raw = JSON.parse(localStorage.getItem(KEY) || "null");
      if (raw && Array.isArray(raw.outbox)) return raw;
    } catch (e) { /* storage blocked or corrupted: memory only */ }
    return JSON.parse(JSON.stringify(memory));
  }
  function save(rec) {
    memory = rec;
    try { localStorage.setItem(KEY, JSON.stringify(rec)); } catch (e) { /* memory only */ }
  }
  function update(change) { const rec = load(); change(rec); save(rec); return rec; }
  const acked = (cid) => update((r) => { r.outbox = r.outbox.filter((m) => m.cid !== cid); });

  // -- state --------------------------------------------------------------------------------
  let cfg = null, S = {}, conv = null, lastSeq = 0, status = "bot", hadAgent = false;
  let ui = null, wantOpen = null;
  const shown = new Map();    // message id -> its element: a message is drawn once
  const bubbles = new Map();  // client_message_id -> the bubble typed here, until stored
  const fill = (text, values) => String(text || "").replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
  const httpUrl = (url) => { try { return /^https?:$/.test(new URL(url).protocol) ? url : ""; } catch (e) { return ""; } };

  window.kefuWidget = Object.freeze({
    open() { if (ui) open(); else wantOpen = true; },
    close() { if (ui) close(); else wantOpen = false; },
  });

  async function api(method, path, body, token) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const bearer = token || (conv && conv.token);
    if (bearer) headers.Authorization = "Bearer " + bearer;
    let res;
    try {
      res = await fetch(BASE + path, { method, headers, mode: "cors", credentials: "omit", cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw Object.assign(new Error("network"), { transient: true });
    }
    const data = await res.json().catch(() => ({}));
    if (res.ok) return data;
    const err = new Error((data.error && data.error.message) || String(res.status));
    err.status = res.status;
    err.code = data.error && data.error.code;
    err.gone = GONE.has(res.status) || err.code === "conversation_closed" || err.code === "wrong_token";
    err.rejected = !err.gone && REJECTED.has(res.status);
    err.transient = !err.gone && !err.rejected;
    err.wait = Number(res.headers.get("Retry-After")) || (data.error && data.error.retry_after) || 0;
    throw err;
  }

  // -- start: config first; a page outside allowed_origins gets no widget at all -----------
  let configDelay = 1000, configTimer = null, warned = false;
  async function start() {
    clearTimeout(configTimer);
    if (cfg) return;
    const lang = chosenLanguage();
    let data;
    try {
      data = await api("GET", "/v1/widget/config?tenant=" + encodeURIComponent(TENANT) + (lang ? "&lang=" + lang : ""));
    } catch (err) {
      if (err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
        // An unknown tenant, or a page outside allowed_origins: say why, once, and show nothing.
        console.warn("kefu widget: not shown: " + err.message);
        return;
      }
      if (!warned && navigator.onLine !== false) {
        warned = true;
        console.warn("kefu widget: can't reach " + BASE + " (offline, or this site isn't in KEFU_WIDGET_ORIGINS); retrying");
      }
      configTimer = setTimeout(start, configDelay);
      configDelay = Math.min(configDelay * 2, 60000);
      return;
    }
    if (cfg) return;
    cfg = data;
    S = data.strings || {};
    if (document.body) build(); else document.addEventListener("DOMContentLoaded", build);
  }

  window.addEventListener("online", () => {
    if (!cfg) { configDelay = 1000; start(); return; }
    if (ui) ui.offline.hidden = true;
    flushDelay = 1000;
    flush();
    socketDelay = 1000;
    if (conv && !ws) (loaded ? connect() : restore());
  });
  window.addEventListener("offline", () => {
    if (ui) { ui.offline.hidden = false; ui.log.scrollTop = ui.log.scrollHeight; }
    dropSocket();
    for (const b of bubbles.values()) state(b, "failed");
  });

  // -- sending: the outbox, in order, each message with its first client_message_id --------
  function newId() {  // randomUUID needs a secure context; getRandomValues doesn't
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function say(text) {
    const cid = newId();
    update((r) => r.outbox.push({ cid, text }));
    showUnsent({ cid, text });
    flush();
  }

  function showUnsent(item) {
    if (bubbles.has(item.cid)) return;
    const div = bubble("customer", item.text);
    div.classList.add("unsent");
    bubbles.set(item.cid, div);
    state(div, navigator.onLine === false ? "failed" : "pending");
  }

  async function startOrJoin(key) {
    let next = load().conv;  // another tab may have started one: join it
    if (!next) {
      // The key (the first message's id) makes the start idempotent on the server: this tab's
      // copy of localStorage may not show another tab's start yet, even after the lock.
      const body = { language: cfg.lang, channel: "widget", client_key: key };
      if (CUSTOMER) {
        body.customer = { external_id: CUSTOMER };
        if (attr("customer-name")) body.customer.name = attr("customer-name");
        if (attr("signature")) body.customer.signature = attr("signature");
      }
      const data = await api("POST", "/v1/conversations", body);
      next = { id: data.id, token: data.token };
      update((r) => { r.conv = next; });
    }
    return next;
  }

  async function ensureConversation(key) {
    if (conv) return;
    // One tab at a time (Web Locks, where the browser has them): two tabs sending their first
    // message together would otherwise start two conversations and split the history.
    const next = navigator.locks
      ? await navigator.locks.request(KEY + ":start", () => startOrJoin(key))
      : await startOrJoin(key);
    if (conv) return;
    conv = next;
    lastSeq = 0; status = "bot"; hadAgent = false; loaded = true;  // the socket replays from 0
    hideQueue(); stopTyping();
    connect();
  }

  function forget() {  // the stored conversation is gone, closed or expired: start afresh
    const old = conv && conv.id;
    conv = null;
    dropSocket();
    update((r) => { if (r.conv && r.conv.id === old) r.conv = null; });
  }

  let flushing = false, again = false, flushTimer = null, flushDelay = 1000;
  async function flush() {
    if (!ui) return;  // build() flushes what waits
    if (flushing) { again = true; return; }
    flushing = true;
    clearTimeout(flushTimer);
    let restarts = 0;
    try {
      for (;;) {
        const item = load().outbox[0];
        if (!item) break;
        showUnsent(item);
        const div = bubbles.get(item.cid);
        if (navigator.onLine === false) { state(div, "failed"); break; }  // "online" resumes
        state(div, "pending");
        let turn;
        try {
          await ensureConversation("start:" + item.cid + (restarts ? ":" + restarts : ""));
          turn = await api("POST", "/v1/conversations/" + conv.id + "/messages", { text: item.text, client_message_id: item.cid });
        } catch (err) {
          if (err.gone && restarts++ < 2) { forget(); continue; }  // the same message, a new conversation
          if (err.rejected) {
            acked(item.cid);
            bubbles.delete(item.cid);
            state(div, "rejected", err.code === "text_too_long" ? fill(S.too_long, { max: cfg.max_chars }) : S.rejected);
            continue;
          }
          for (const b of bubbles.values()) state(b, "failed");
          if (navigator.onLine !== false) flushTimer = setTimeout(flush, Math.max(flushDelay, err.wait * 1000 || 0));
          flushDelay = Math.min(flushDelay * 2, 30000);
          break;
        }
        flushDelay = 1000;
        acked(item.cid);
        render(turn.message);
        for (const reply of turn.replies) render(reply, true);
        // The socket's status frames are newer than this answer: it may not undo "with_agent".
        if (turn.status !== status && !(turn.status === "waiting_agent" && status === "with_agent")) setStatus(turn.status);
        if (!ws) connect();
      }
    } finally {
      flushing = false;
      if (again) { again = false; flush(); }
    }
  }

  // -- after a reload: the stored conversation's transcript, then live --------------------
  let loaded = false;
  async function restore() {
    const rec = load();
    if (rec.conv && !conv) conv = rec.conv;
    if (conv && !loaded) {
      const forId = conv.id;
      try {
        for (let after = 0, pages = 0; pages < 20; pages++) {
          const data = await api("GET", "/v1/conversations/" + forId + "/messages?limit=500&after=" + after);
          if (!conv || conv.id !== forId) return;
          for (const m of data.messages) render(m);
          if (data.messages.length < 500) break;
          after = data.messages[data.messages.length - 1].seq;
        }
        loaded = true;
        const q = await api("GET", "/v1/conversations/" + forId + "/queue");
        if (conv && conv.id === forId) {
          if (q.status === "waiting_agent") { status = q.status; showQueue(q); } else setStatus(q.status);
        }
      } catch (err) {
        if (err.gone && conv && conv.id === forId) forget();
      }
      if (conv && conv.id === forId && loaded) connect();
    }
    for (const item of load().outbox) showUnsent(item);
    flush();
  }

  // -- the live socket: agents' messages, typing, status, queue ----------------------------
  let ws = null, socketTimer = null, socketDelay = 1000;

  function dropSocket() {
    clearTimeout(socketTimer);
    if (ws) { const old = ws; ws = null; old.close(); }
  }

  function connect() {
    dropSocket();
    if (!conv || !("WebSocket" in window) || navigator.onLine === false) return;
    const url = BASE.replace(/^http/, "ws") + "/v1/conversations/" + encodeURIComponent(conv.id) +
      "/ws?token=" + encodeURIComponent(conv.token) + "&after=" + lastSeq;
    const sock = new WebSocket(url);
    const forId = conv.id;
    ws = sock;
    sock.onopen = () => { socketDelay = 1000; flush(); };  // back online, for sure: resend now
    sock.onmessage = (event) => {
      if (ws !== sock || !conv || conv.id !== forId) return;
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      onFrame(frame);
    };
    sock.onclose = (event) => {
      if (ws !== sock) return;  // replaced or closed on purpose
      ws = null;
      if (event.code === 1008) return;  // refused (expired, gone): the next message starts afresh
      if (!conv || navigator.onLine === false) return;  // "online" reconnects
      socketTimer = setTimeout(connect, socketDelay * (0.75 + Math.random() / 2));
      socketDelay = Math.min(socketDelay * 2, 30000);
    };
  }

  let heard = 0;  // queue and status frames seen: a GET /queue answer older than one is stale
  function onFrame(frame) {
    if (frame.type === "queue" || frame.type === "status") heard++;
    if (frame.type === "message") render(frame.message, true);
    else if (frame.type === "typing" && frame.role === "agent") startTyping();
    else if (frame.type === "queue" && status === "waiting_agent") showQueue(frame);
    else if (frame.type === "status") setStatus(frame.status);
  }

  function setStatus(next) {
    const before = status;
    status = next;
    if (next === "waiting_agent") { if (before !== "waiting_agent") waitForAgent(); }
    else if (next === "with_agent") { hadAgent = true; hideQueue(); }
    else { hideQueue(); stopTyping(); if (next === "closed" && hadAgent) survey(); }
  }

  async function waitForAgent() {
    ui.queue.textContent = S.waiting;
    ui.queue.hidden = false;
    const forId = conv && conv.id, since = heard;
    try {
      const q = await api("GET", "/v1/conversations/" + forId + "/queue");
      if (!conv || conv.id !== forId || status !== "waiting_agent" || heard !== since) return;
      if (q.status !== "waiting_agent") setStatus(q.status); else showQueue(q);
    } catch (err) { /* the notice stays generic; queue frames update it */ }
  }

  /* @include widget-ui.js */

  start();
})();
