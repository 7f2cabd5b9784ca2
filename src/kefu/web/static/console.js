// kefu console: sign in, list conversations, read a transcript.
// Every string from the server is set with textContent, never parsed as HTML.
"use strict";
(function () {
  const T = JSON.parse(document.getElementById("i18n").textContent);
  const $ = (id) => document.getElementById(id);
  let me = null;
  let current = null;
  let revealed = false;

  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)kefu_csrf=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : (me && me.csrf_token) || "";
  }

  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = csrf();
    const res = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    return { status: res.status, data };
  }

  function show(signedIn) {
    $("login").hidden = signedIn;
    $("app").hidden = !signedIn;
    $("signout").hidden = !signedIn;
    $("who").textContent = signedIn && me ? me.name + (me.role ? " · " + me.role : "") : "";
  }

  async function start() {
    const res = await api("GET", "/v1/auth/me");
    if (res.status === 200) {
      me = res.data;
      show(true);
      await loadConversations();
    } else {
      show(false);
    }
  }

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    const res = await api("POST", "/v1/auth/login", {
      username: $("username").value, password: $("password").value,
    });
    if (res.status === 200) {
      me = res.data;
      $("password").value = "";
      show(true);
      await loadConversations();
    } else {
      $("login-error").textContent = res.status === 429 ? T.too_many : T.sign_in_failed;
    }
  });

  $("signout").addEventListener("click", async () => {
    await api("POST", "/v1/auth/logout");
    me = null;
    show(false);
  });

  async function loadConversations() {
    const res = await api("GET", "/v1/console/conversations?limit=100");
    const list = $("conversations");
    list.replaceChildren();
    if (res.status !== 200) { list.textContent = T.error; return; }
    if (!res.data.length) {
      const li = document.createElement("li");
      li.textContent = T.none;
      list.append(li);
      return;
    }
    for (const conv of res.data) {
      const li = document.createElement("li");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.dataset.id = conv.id;
      btn.textContent = (conv.customer || conv.id.slice(0, 8)) + " · " + conv.status +
        " · " + new Date(conv.updated_at).toLocaleString();
      btn.addEventListener("click", () => { revealed = false; openConversation(conv.id); });
      li.append(btn);
      list.append(li);
    }
  }

  async function openConversation(id) {
    current = id;
    for (const b of document.querySelectorAll("#conversations button")) {
      b.setAttribute("aria-current", String(b.dataset.id === id));
    }
    const res = await api("GET", "/v1/console/conversations/" + encodeURIComponent(id) +
      (revealed ? "?reveal=true" : ""));
    const box = $("messages");
    box.replaceChildren();
    $("hint").hidden = true;
    if (res.status !== 200) { box.textContent = T.error; return; }
    $("transcript-bar").hidden = false;
    $("masked-note").hidden = !res.data.masked;
    const canReveal = me && me.permissions.includes("pii:read");
    $("reveal").hidden = !canReveal;
    $("reveal").textContent = revealed ? T.hide : T.reveal;
    for (const m of res.data.messages) {
      const li = document.createElement("li");
      li.className = "msg " + m.role;
      const who = document.createElement("span");
      who.className = "role";
      who.textContent = T["role_" + m.role] || m.role;
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = m.text;
      li.append(who, text);
      box.append(li);
    }
  }

  $("reveal").addEventListener("click", () => {
    if (!current) return;
    revealed = !revealed;
    openConversation(current);
  });

  start();
})();
