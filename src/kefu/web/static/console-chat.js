// The centre column: one conversation. Agents (GET /v1/agent/conversations/{id}) get its live
// messages, the actions (take, transfer, hand back, close) and the reply box with suggestions
// and canned responses; other roles read the masked transcript (GET /v1/console/...).
import {
  $, T, announce, api, clock, customerName, el, errorText, fill, isAgent, priorityBadge,
  reasonText, session,
} from "./console-util.js";
import * as context from "./console-context.js";
import * as live from "./console-live.js";

const TYPING_EVERY_MS = 2000;  // at most one typing frame per 2 s while the agent types
const TYPING_SHOWN_MS = 5000;

let current = null;   // conversation id shown
let data = null;      // AgentConversation (agents) or Transcript (others)
let messages = new Map();  // seq -> message, masked as the API sends it
let revealed = null;  // seq -> unmasked text while "reveal" is on
let changeHandler = () => {};
let typingSentAt = 0;
let typingTimer = null;
let contextTimer = null;
let canned = null;

export function onChange(handler) { changeHandler = handler; }

const enc = encodeURIComponent;
const base = (id) => "/v1/agent/conversations/" + enc(id);

function mine() {
  const h = data && data.handoff;
  return Boolean(h && h.status === "assigned" && h.agent && h.agent.id === session.me.id);
}

export function reset() {
  if (current) live.unwatch(current);
  current = null;
  data = null;
  messages = new Map();
  revealed = null;
  canned = null;
  $("hint").hidden = false;
  $("conv-head").hidden = true;
  $("transcript-bar").hidden = true;
  $("messages").replaceChildren();
  $("typing").hidden = true;
  $("reply-form").hidden = true;
  $("transfer-form").hidden = true;
  $("canned-menu").hidden = true;
  $("suggestions").hidden = true;
  $("action-error").textContent = "";
  context.clear();
}

export async function open(id) {
  reset();
  current = id;
  $("hint").hidden = true;
  await load(id);
  if (current === id && isAgent()) live.watch(id, lastSeq());
}

async function load(id) {
  const res = isAgent() ? await api("GET", base(id))
    : await api("GET", "/v1/console/conversations/" + enc(id));
  if (current !== id) return;
  if (res.status !== 200) {
    if (messages.size) $("action-error").textContent = errorText(res);
    else $("messages").replaceChildren(el("li", { class: "error", text: errorText(res) }));
    return;
  }
  data = res.data;
  if (isAgent() && agentNames === null && data.messages.some((m) => m.role === "agent")) {
    await loadAgentNames();
    if (current !== id) return;
  }
  for (const m of data.messages) add(m);
  render();
  if (isAgent()) {
    context.render(data.context, data.handoff);
    if (mine()) loadSuggestions();
  }
}

// Re-read the conversation after an event about it (assigned, transferred, closed...);
// messages already shown stay, new ones are added by seq.
async function reload() {
  if (current) await load(current);
}

function lastSeq() {
  let last = 0;
  for (const seq of messages.keys()) last = Math.max(last, seq);
  return last;
}

function render() {
  const conv = data.conversation;
  const h = isAgent() ? data.handoff : null;
  $("conv-head").hidden = false;
  $("conv-customer").textContent = customerName(conv.customer, conv.id);
  $("conv-badges").replaceChildren(...[h && priorityBadge(h.priority),
    h && el("span", { class: "reason", text: reasonText(h.reason) })].filter(Boolean));
  let state = T["conv_" + conv.status] || conv.status;
  if (h && h.status === "assigned" && h.agent) {
    state = mine() ? T.with_me : fill(T.with_agent, { name: h.agent.name });
  } else if (h && h.status === "queued" && h.position) {
    state += " · " + fill(T.position, { n: h.position });
  }
  $("conv-state").textContent = state;
  const agent = isAgent();
  const closed = conv.status === "closed";
  const ours = agent && mine();
  const assigned = Boolean(h && h.status === "assigned");
  // Supervisors (handoff:manage) may act on another agent's chat; agents only on their own.
  const manager = agent && session.me.permissions.includes("handoff:manage");
  // Take: from the queue, or over from the bot (or, for a supervisor, from another agent).
  const takeable = agent && !closed && !ours && (!assigned || manager);
  $("take").hidden = !takeable;
  $("take").textContent = h && h.status === "queued" ? T.take : T.take_over;
  for (const id of ["transfer", "handback", "close"]) $(id).hidden = !(ours || (manager && assigned));
  $("actions").hidden = ["take", "transfer", "handback", "close"].every((id) => $(id).hidden);
  if (!ours) $("transfer-form").hidden = true;
  $("reply-form").hidden = !ours;
  $("transcript-bar").hidden = false;
  $("masked-note").hidden = Boolean(revealed);
  $("reveal").hidden = !session.me.permissions.includes("pii:read");
  $("reveal").textContent = revealed ? T.hide : T.reveal;
}

// Agent messages carry the author's account id: named from the agents list.
let agentNames = null;

async function loadAgentNames() {
  const res = await api("GET", "/v1/agent/agents");
  if (res.status !== 200) return;
  agentNames = new Map(res.data.map((a) => [a.account_id, a.name]));
  return res.data;
}

function authorName(author) {
  if (author === null || author === undefined) return null;
  if (typeof author === "object") return author.name || null;
  if (typeof author === "string") return author;
  if (author === session.me.id) return (session.agent && session.agent.name) || session.me.name;
  return (agentNames && agentNames.get(author)) || null;
}

function messageNode(m) {
  const who = T["role_" + m.role] || m.role;
  const author = authorName(m.author);
  const text = revealed && revealed.has(m.seq) ? revealed.get(m.seq) : m.text;
  const li = el("li", { class: "msg " + m.role, "data-seq": m.seq },
    el("span", { class: "role" }, author ? who + " · " + author : who,
      el("time", { datetime: m.created_at, text: clock(m.created_at) })),
    el("span", { class: "text", text }));
  const replies = m.payload && m.payload.quick_replies;
  if (replies && replies.length) {
    li.append(el("span", { class: "choices" },
      ...replies.map((r) => el("span", { class: "choice", text: r.title }))));
  }
  return li;
}

// Messages arrive from the page load, the socket and our own POSTs: one per seq, in order.
function add(m) {
  if (messages.has(m.seq)) return false;
  messages.set(m.seq, m);
  const box = $("messages");
  const pane = $("transcript");  // the scrolling column
  const after = [...box.children].find((li) => Number(li.dataset.seq) > m.seq);
  const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80;
  box.insertBefore(messageNode(m), after || null);
  if (atBottom && !after) pane.scrollTop = pane.scrollHeight;  // follow, unless reading back
  return true;
}

function redraw() {
  $("messages").replaceChildren(...[...messages.values()].sort((a, b) => a.seq - b.seq)
    .map(messageNode));
  render();
}

export function liveMessage(frame) {
  if (frame.conversation_id !== current || !frame.message) return;
  if (!add(frame.message)) return;
  changeHandler();  // the inbox shows the last message
  if (frame.message.role === "customer") {
    $("typing").hidden = true;
    // A new turn: fresh suggestions, and the summary's intent and moods move on.
    clearTimeout(contextTimer);
    contextTimer = setTimeout(reload, 300);
  }
}

export function customerTyping(frame) {
  if (frame.conversation_id !== current || frame.role === "agent") return;
  $("typing").hidden = false;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => { $("typing").hidden = true; }, TYPING_SHOWN_MS);
}

// An inbox event or a status frame about the open conversation: re-read its state.
export function inboxEvent(frame) {
  if (frame.conversation_id === current) reload();
}

export function rewatch() {
  if (current && isAgent()) live.watch(current, lastSeq());
}

// --- actions ---------------------------------------------------------------------------

async function act(path, body, done) {
  const id = current;
  $("action-error").textContent = "";
  const res = await api("POST", base(id) + path, body);
  if (res.status !== 200 && res.status !== 201) {
    $("action-error").textContent = errorText(res);
    if (res.status === 409) await reload();  // someone else moved first: show the truth
    return false;
  }
  announce(done);
  changeHandler();
  await reload();
  return true;
}

$("take").addEventListener("click", async () => {
  if (await act("/take", undefined, T.taken)) $("reply").focus();
});
$("handback").addEventListener("click", () => act("/handback", undefined, T.handed_back));
$("close").addEventListener("click", () => act("/close", undefined, T.closed_done));

$("transfer").addEventListener("click", async () => {
  const form = $("transfer-form");
  if (!form.hidden) { hideTransfer(); return; }
  const agents = (await loadAgentNames()) || [];
  const teams = [...new Set(agents.flatMap((a) => a.teams || []))].sort();
  const byAgent = agents.filter((a) => a.account_id !== session.me.id).map((a) =>
    el("option", { value: "agent:" + a.account_id },
      a.name + " · " + (T["status_" + a.status] || a.status) +
      (a.capacity ? " · " + a.active + "/" + a.capacity : "")));
  $("transfer-to").replaceChildren(el("option", { value: "", text: T.transfer_pick }),
    byAgent.length ? el("optgroup", { label: T.agents }, ...byAgent) : null,
    teams.length ? el("optgroup", { label: T.teams },
      ...teams.map((t) => el("option", { value: "team:" + t, text: t }))) : null);
  $("team-list").replaceChildren(...teams.map((t) => el("option", { value: t })));
  form.hidden = false;
  $("transfer").setAttribute("aria-expanded", "true");
  $("transfer-to").focus();
});

function hideTransfer() {
  $("transfer-form").hidden = true;
  $("transfer").setAttribute("aria-expanded", "false");
  $("transfer-form").reset();
}

$("transfer-cancel").addEventListener("click", () => { hideTransfer(); $("transfer").focus(); });
$("transfer-form").addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") { hideTransfer(); $("transfer").focus(); }
});
$("transfer-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const typed = $("transfer-team").value.trim();
  const picked = $("transfer-to").value;
  let body;
  if (typed) body = { team: typed };
  else if (picked.startsWith("agent:")) body = { agent_id: Number(picked.slice(6)) };
  else if (picked.startsWith("team:")) body = { team: picked.slice(5) };
  else { $("action-error").textContent = T.transfer_pick; $("transfer-to").focus(); return; }
  const note = $("transfer-note").value.trim();
  if (note) body.note = note;
  if (await act("/transfer", body, T.transferred)) hideTransfer();
});

$("reveal").addEventListener("click", async () => {
  if (!current) return;
  if (revealed) { revealed = null; redraw(); return; }
  const id = current;
  const res = await api("GET", "/v1/console/conversations/" + enc(id) + "?reveal=true");
  if (current !== id) return;
  if (res.status !== 200) { $("action-error").textContent = errorText(res); return; }
  revealed = new Map(res.data.messages.map((m) => [m.seq, m.text]));
  for (const m of res.data.messages) if (!messages.has(m.seq)) messages.set(m.seq, m);
  redraw();
});

// --- the reply box ----------------------------------------------------------------------

const reply = $("reply");

function newId() {
  return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
}

$("reply-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = reply.value.trim();
  if (!text || !current) return;
  const id = current;
  $("reply-error").textContent = "";
  $("send").disabled = true;
  const res = await api("POST", base(id) + "/messages", { text, client_message_id: newId() });
  $("send").disabled = false;
  if (res.status === 201 || res.status === 200) {
    if (reply.value.trim() === text) reply.value = "";
    if (current === id && res.data && res.data.seq !== undefined) add(res.data);
    $("suggestions").hidden = true;
  } else {
    $("reply-error").textContent = errorText(res);
    if (res.status === 409) reload();
  }
  reply.focus();
});

reply.addEventListener("keydown", (ev) => {
  // Enter sends, Shift+Enter is a new line; Enter that picks an IME candidate is neither.
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
    ev.preventDefault();
    $("reply-form").requestSubmit();
  }
});

reply.addEventListener("input", () => {
  const now = Date.now();
  if (!current || !reply.value || now - typingSentAt < TYPING_EVERY_MS) return;
  typingSentAt = now;
  live.send({ type: "typing", conversation_id: current });
});

function insert(text) {
  const start = reply.selectionStart ?? reply.value.length;
  const end = reply.selectionEnd ?? reply.value.length;
  reply.value = reply.value.slice(0, start) + text + reply.value.slice(end);
  reply.focus();
  reply.setSelectionRange(start + text.length, start + text.length);
}

async function loadSuggestions() {
  const id = current;
  const res = await api("GET", base(id) + "/suggestions");
  if (current !== id) return;
  const box = $("suggestions");
  const list = res.status === 200 && Array.isArray(res.data) ? res.data : [];
  box.replaceChildren(...list.slice(0, 4).map((s) => el("button", {
    type: "button", class: "chip", title: s.question || null,
    onclick: () => { reply.value = s.text; reply.focus(); },
  }, s.text)));
  box.hidden = !list.length;
}

// --- canned responses -------------------------------------------------------------------

const toggle = $("canned-toggle");
const menu = $("canned-menu");

function closeCanned(focusToggle) {
  menu.hidden = true;
  toggle.setAttribute("aria-expanded", "false");
  if (focusToggle) toggle.focus();
}

function drawCanned() {
  const q = $("canned-filter").value.trim().toLowerCase();
  const shown = (canned || []).filter((c) =>
    !q || c.title.toLowerCase().includes(q) || c.text.toLowerCase().includes(q));
  $("canned-list").replaceChildren(...(shown.length ? shown.map((c) => el("li", {},
    el("button", { type: "button", onclick: () => { closeCanned(false); insert(c.text); } },
      el("strong", { text: c.title }), el("span", { class: "muted", text: c.text }))))
    : [el("li", { class: "empty", text: T.none_canned })]));
}

toggle.addEventListener("click", async () => {
  if (!menu.hidden) { closeCanned(true); return; }
  const id = current;
  if (canned === null) {
    const res = await api("GET", "/v1/agent/canned?conversation_id=" + enc(id));
    if (current !== id) return;
    canned = res.status === 200 ? res.data : [];
  }
  $("canned-filter").value = "";
  drawCanned();
  menu.hidden = false;
  toggle.setAttribute("aria-expanded", "true");
  $("canned-filter").focus();
});
$("canned-filter").addEventListener("input", drawCanned);
menu.addEventListener("keydown", (ev) => {
  const items = [...menu.querySelectorAll("#canned-list button")];
  const at = items.indexOf(document.activeElement);
  if (ev.key === "Escape") { ev.preventDefault(); closeCanned(true); }
  else if (ev.key === "ArrowDown" && items.length) {
    ev.preventDefault(); items[Math.min(at + 1, items.length - 1)].focus();
  } else if (ev.key === "ArrowUp") {
    ev.preventDefault(); (at <= 0 ? $("canned-filter") : items[at - 1]).focus();
  } else if (ev.key === "Enter" && ev.target === $("canned-filter") && items.length) {
    ev.preventDefault(); items[0].click();
  }
});
document.addEventListener("click", (ev) => {
  if (!menu.hidden && !ev.target.closest(".canned")) closeCanned(false);
});
