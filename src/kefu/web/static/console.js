// kefu console: sign in; agents (handoff:work) get the inbox, live conversations and their
// context; every other role reads masked transcripts. Modules:
//   console-util.js    strings, API helper, DOM building, formatting
//   console-inbox.js   inbox tabs (queue / mine / all / history) and the status switch
//   console-chat.js    the open conversation: messages, actions, reply box, transfer
//   console-context.js the context panel (summary, sentiment, profile, recent orders)
//   console-live.js    the agent WebSocket and new-chat alerts (sound, desktop notification)
import { $, T, api, canAdmin, isAgent, session, signIn } from "./console-util.js";
import * as inbox from "./console-inbox.js";
import * as chat from "./console-chat.js";
import * as live from "./console-live.js";

const ROLE_NAMES = { admin: T.account_admin, supervisor: T.account_supervisor,
  agent: T.account_agent, analyst: T.account_analyst };

function show(signedIn) {
  const me = session.me;
  $("login").hidden = signedIn;
  $("app").hidden = !signedIn;
  $("signout").hidden = !signedIn;
  const agent = signedIn && isAgent();
  for (const node of document.querySelectorAll(".agent-only")) {
    if (node.closest("#conv-head") || node.id === "reply-form") continue;  // shown per conversation
    node.hidden = !agent;
  }
  $("not-agent").hidden = !signedIn || agent;
  $("admin-link").hidden = !signedIn || !canAdmin();  // knowledge, training, settings
  document.body.classList.toggle("agent", agent);
  // An agent's profile carries the display name; /v1/auth/me the username.
  const name = (session.agent && session.agent.name) || (me && me.name);
  $("who").textContent = signedIn && me
    ? name + (me.role ? " · " + (ROLE_NAMES[me.role] || me.role) : "") : "";
}

async function enter() {
  show(true);
  chat.reset();
  if (isAgent()) {
    const res = await api("GET", "/v1/agent/me");
    if (res.status === 200) { inbox.setAgent(res.data); show(true); }
    live.connect();
    await inbox.select("queue");
  } else {
    await inbox.select("history");
  }
}

const start = signIn(enter, show);

$("signout").addEventListener("click", async () => {
  live.disconnect();
  // Leaving work: routing must stop sending chats to this agent.
  if (isAgent() && session.agent && session.agent.status !== "offline") {
    await api("PUT", "/v1/agent/me/status", { status: "offline" });
  }
  await api("POST", "/v1/auth/logout");
  session.me = null;
  session.agent = null;
  chat.reset();
  inbox.clear();
  show(false);
  $("username").focus();
});

// A session that ends elsewhere (expired, signed out in another tab) shows the sign-in form.
addEventListener("kefu:signed-out", () => {
  live.disconnect();
  session.me = null;
  session.agent = null;
  chat.reset();
  inbox.clear();
  show(false);
});

inbox.onOpen((id) => chat.open(id));
chat.onChange(() => inbox.refresh());
addEventListener("kefu:open", (ev) => { inbox.highlight(ev.detail); chat.open(ev.detail); });
// A burst of inbox events (a routing run assigns several chats) costs one refresh.
let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => inbox.refresh(), 250);
}

live.on({
  inbox: async (frame) => {
    refreshSoon();
    chat.inboxEvent(frame);
    const me = session.me;
    if (frame.event === "agent_status" && me && (frame.agent_id ?? me.id) === me.id) {
      // Set elsewhere: another tab, a supervisor.
      const res = await api("GET", "/v1/agent/me");
      if (res.status === 200) inbox.setAgent(res.data);
    }
  },
  message: (frame) => chat.liveMessage(frame),
  status: (frame) => chat.inboxEvent(frame),
  typing: (frame) => chat.customerTyping(frame),
  reconnected: () => { inbox.refresh(); chat.rewatch(); },
});

start();
