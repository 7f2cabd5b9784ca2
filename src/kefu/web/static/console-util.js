// Shared by the console's modules: strings, the API helper, DOM building and formatting.
// Every string from the server goes into the page with textContent, never parsed as HTML.

export const T = JSON.parse(document.getElementById("i18n").textContent);
export const $ = (id) => document.getElementById(id);

// Who is signed in (GET /v1/auth/me) and, for agents, their profile (GET /v1/agent/me).
export const session = { me: null, agent: null };

export function isAgent() {
  return Boolean(session.me && session.me.permissions.includes("handoff:work"));
}

// The session's CSRF token, sent as X-CSRF-Token on every write (admin.js uploads with it too).
export function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)kefu_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : (session.me && session.me.csrf_token) || "";
}

export function can(permission) {
  return Boolean(session.me && session.me.permissions.includes(permission));
}

// Who the admin console (/admin) is for: those who manage the bot or read its numbers. Agents
// read knowledge too, to answer customers, but they work in the console.
const ADMIN_PERMISSIONS = ["knowledge:write", "settings:manage", "analytics:read"];

export function canAdmin() {
  return ADMIN_PERMISSIONS.some(can);
}

// A Blob body (a file to import) goes as it is; anything else as JSON.
export async function api(method, path, body) {
  const raw = body instanceof Blob;
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = raw ? "application/octet-stream" : "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined || raw ? body : JSON.stringify(body),
    });
  } catch (err) {
    return { status: 0, data: null, code: "network" };
  }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  const code = data && data.error ? data.error.code : null;
  return { status: res.status, data, code };
}

// el("li", {class: "msg"}, child, "text") - attributes set one by one, text as text nodes.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// "{name} is here" with {name} filled; values are plain text.
export function fill(template, values) {
  return String(template).replace(/\{(\w+)\}/g, (all, key) =>
    key in values ? String(values[key]) : all);
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return fill(T.dur_s, { n: s });
  if (s < 3600) return fill(T.dur_m, { n: Math.floor(s / 60) });
  return fill(T.dur_h, { n: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

const LOCALE = document.documentElement.lang || undefined;  // the page's language, not the OS's

export function clock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const sameDay = d.toDateString() === new Date().toDateString();
  const time = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  return sameDay ? d.toLocaleTimeString(LOCALE, time)
    : d.toLocaleString(LOCALE, { month: "2-digit", day: "2-digit", ...time });
}

export function reasonText(reason) {
  if (!reason) return "";
  if (reason.startsWith("faq:")) return fill(T.reason_faq, { id: reason.slice(4) });
  return T["reason_" + reason] || reason;
}

export function priorityBadge(priority) {
  if (!priority || priority === "normal") return null;
  return el("span", { class: "badge " + priority, text: T["priority_" + priority] || priority });
}

export function customerName(customer, conversationId) {
  return customer || fill(T.visitor, { id: String(conversationId).slice(0, 8) });
}

export function errorText(res) {
  if (res.code && T["err_" + res.code]) return T["err_" + res.code];
  if (res.status === 403) return T.err_forbidden;
  return T.error;
}

// One polite live region: new chats and the outcome of actions are read out to screen readers.
export function announce(text) {
  const region = $("announce");
  region.textContent = "";
  // A fresh text node each time so the same words are announced twice in a row too.
  setTimeout(() => { region.textContent = text; }, 30);
}

// The sign-in both consoles share: an existing session enters at once, else the form does.
// Returns `start`, to call once the page's handlers are in place.
export function signIn(enter, show) {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    const res = await api("POST", "/v1/auth/login", {
      username: $("username").value, password: $("password").value,
    });
    if (res.status === 200) {
      session.me = res.data;
      $("password").value = "";
      await enter();
    } else {
      $("login-error").textContent = res.status === 429 ? T.too_many : T.sign_in_failed;
    }
  });
  return async function start() {
    const res = await api("GET", "/v1/auth/me");
    if (res.status === 200) {
      session.me = res.data;
      await enter();
    } else {
      show(false);
      $("username").focus();
    }
  };
}
