// The left column: inbox tabs (queue / mine / all from GET /v1/agent/inbox, history from
// GET /v1/console/conversations) and, in the header, the agent's status switch.
import {
  $, T, api, clock, customerName, duration, el, errorText, fill, priorityBadge, reasonText,
  session,
} from "./console-util.js";

let view = null;
let openHandler = () => {};
let selectedId = null;
let refreshTimer = null;
let loading = null;

export function onOpen(handler) { openHandler = handler; }

export function setAgent(agent) {
  session.agent = agent;
  $("status").value = agent.status;
  $("status").dataset.status = agent.status;
}

export function clear() {
  view = null;
  selectedId = null;
  $("inbox").replaceChildren();
  $("conversations").replaceChildren();
  $("count-queue").textContent = "";
  $("count-mine").textContent = "";
}

function tabs() {
  return [...document.querySelectorAll("#tabs [role=tab]")].filter((tab) => !tab.hidden);
}

export async function select(name) {
  view = name;
  for (const tab of document.querySelectorAll("#tabs [role=tab]")) {
    const on = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    if (on) $("list-panel").setAttribute("aria-labelledby", tab.id);
  }
  $("inbox").hidden = name === "history";
  $("conversations").hidden = name !== "history";
  await load();
}

// Inbox events come in bursts (queued, then assigned a moment later): one reload per burst.
export function refresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(load, 200);
}

async function load() {
  if (!session.me || !view) return;
  if (loading) return loading.then(() => load());
  loading = (view === "history" ? loadHistory() : loadInbox()).finally(() => { loading = null; });
  return loading;
}

function empty(list, text) {
  list.replaceChildren(el("li", { class: "empty", text }));
}

async function loadInbox() {
  const shown = view;
  const views = ["queue", "mine"].filter((v) => v !== shown);
  const [res, ...counts] = await Promise.all([shown, ...views].map((v) =>
    api("GET", "/v1/agent/inbox?view=" + v)));
  if (res.status === 401) { dispatchEvent(new Event("kefu:signed-out")); return; }
  if (view !== shown) return;  // the tab changed while this was loading
  const list = $("inbox");
  if (res.status !== 200) { empty(list, errorText(res)); return; }
  counter(shown, res.data.length);
  views.forEach((v, i) => { if (counts[i].status === 200) counter(v, counts[i].data.length); });
  if (!res.data.length) { empty(list, T.none); return; }
  list.replaceChildren(...res.data.map(inboxItem));
}

function counter(name, n) {
  const node = $("count-" + name);
  if (node) node.textContent = n ? String(n) : "";
}

function waitingText(handoff) {
  if (!handoff) return "";
  if (handoff.status === "queued") {
    // Time waited so far, counted from requested_at (the handoff's wait_seconds is the
    // customer's estimated wait still to come, not this). Clocks differ: never below zero.
    return fill(T.waiting, { time: duration((Date.now() - Date.parse(handoff.requested_at)) / 1000) });
  }
  if (handoff.status === "assigned" && handoff.agent) {
    const mine = handoff.agent.id === session.me.id;
    return mine ? T.with_me : fill(T.with_agent, { name: handoff.agent.name });
  }
  return "";
}

function inboxItem(item) {
  const h = item.handoff;
  const last = item.last_message;
  const wait = el("span", { class: "wait", text: waitingText(h) });
  const button = el("button", {
    type: "button", "data-id": item.conversation_id,
    "data-priority": h ? h.priority : null,
    "aria-current": String(item.conversation_id === selectedId),
    onclick: () => choose(item.conversation_id),
  },
  el("span", { class: "line" }, h && priorityBadge(h.priority),
    el("span", { class: "name", text: customerName(item.customer, item.conversation_id) }), wait),
  el("span", { class: "line muted" },
    el("span", { class: "reason", text: h ? reasonText(h.reason) : T["conv_" + item.status] || item.status }),
    h && h.position ? el("span", { class: "position", text: fill(T.position, { n: h.position }) }) : null),
  last ? el("span", { class: "last" },
    el("span", { class: "who", text: (T["role_" + last.role] || last.role) + ": " }),
    el("span", { class: "text", text: last.text })) : null);
  button.kefuTick = () => { wait.textContent = waitingText(h); };
  return el("li", {}, button);
}

async function loadHistory() {
  const res = await api("GET", "/v1/console/conversations?limit=100");
  if (res.status === 401) { dispatchEvent(new Event("kefu:signed-out")); return; }
  if (view !== "history") return;
  const list = $("conversations");
  if (res.status !== 200) { empty(list, errorText(res)); return; }
  if (!res.data.length) { empty(list, T.none); return; }
  list.replaceChildren(...res.data.map((conv) => el("li", {}, el("button", {
    type: "button", "data-id": conv.id, "aria-current": String(conv.id === selectedId),
    onclick: () => choose(conv.id),
  },
  el("span", { class: "line" },
    el("span", { class: "name", text: customerName(conv.customer, conv.id) }),
    el("span", { class: "wait", text: clock(conv.updated_at) })),
  el("span", { class: "line muted", text: T["conv_" + conv.status] || conv.status })))));
}

function choose(id) {
  highlight(id);
  openHandler(id);
}

export function highlight(id) {
  selectedId = id;
  for (const b of document.querySelectorAll("#lists .items button")) {
    b.setAttribute("aria-current", String(b.dataset.id === id));
  }
}

// Waiting times keep counting between reloads.
setInterval(() => {
  for (const b of document.querySelectorAll("#inbox button")) if (b.kefuTick) b.kefuTick();
}, 15000);

$("tabs").addEventListener("click", (ev) => {
  const tab = ev.target.closest("[role=tab]");
  if (tab) select(tab.dataset.view);
});

// Arrow keys move between tabs (WAI-ARIA tabs pattern), Home/End to the ends.
$("tabs").addEventListener("keydown", (ev) => {
  const all = tabs();
  const at = all.indexOf(document.activeElement);
  if (at < 0) return;
  const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: all.length - 1 }[ev.key];
  if (to === undefined) return;
  ev.preventDefault();
  const tab = all[(to + all.length) % all.length];
  tab.focus();
  select(tab.dataset.view);
});

$("status").addEventListener("change", async () => {
  const wanted = $("status").value;
  const res = await api("PUT", "/v1/agent/me/status", { status: wanted });
  if (res.status === 200) {
    setAgent(res.data);
    refresh();  // going online may bring a chat from the queue
  } else if (session.agent) {
    $("status").value = session.agent.status;
    $("status").title = errorText(res);
  }
});
