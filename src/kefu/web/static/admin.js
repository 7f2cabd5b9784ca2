// kefu admin console: sign in (the console's accounts), then the sections the account's
// permissions allow, one at a time, chosen by the address's #hash. Modules:
//   admin-util.js       shared helpers (lists, bars, errors, read-only mode)
//   admin-kb.js         knowledge base: search, list, import, export
//   admin-entry.js      one entry: the form, delete, stale versions, history and revert
//   admin-try.js        "Try it": what kefu would answer, and why
//   admin-intents.js    intents and their examples
//   admin-training.js   retraining, its evaluation, and the runs
//   admin-review.js     conversation review: mark the right entry or intent
//   admin-settings.js   agents, canned responses, widget; admin-escalation.js the escalation rules
import { $, T, api, can, canAdmin, session, signIn } from "/console/console-util.js";
import * as kb from "./admin-kb.js";
import * as tryIt from "./admin-try.js";
import * as intents from "./admin-intents.js";
import * as review from "./admin-review.js";
import * as settings from "./admin-settings.js";

const ROLE_NAMES = { admin: T.account_admin, supervisor: T.account_supervisor,
  agent: T.account_agent, analyst: T.account_analyst };

// Each section, what it needs, and its module (show() loads its data when it is opened).
const SECTIONS = [
  { name: "knowledge", needs: ["knowledge:read"], module: kb },
  { name: "try", needs: ["knowledge:read"], module: tryIt },
  { name: "intents", needs: ["knowledge:read"], module: intents },
  { name: "review", needs: ["conversations:read", "knowledge:read"], module: review },
  { name: "settings", needs: ["settings:manage"], module: settings },
];
for (const section of SECTIONS) section.module.init();

function allowed() {
  if (!canAdmin()) return [];
  return SECTIONS.filter((s) => s.needs.every(can));
}

let current = null;

function open(name, focus) {
  const sections = allowed();
  const chosen = sections.find((s) => s.name === name) || sections[0];
  if (!chosen) return;
  for (const s of SECTIONS) $(s.name).hidden = s !== chosen;
  for (const link of document.querySelectorAll("#sections a")) {
    if (link.dataset.section === chosen.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const again = current === chosen.name;
  current = chosen.name;
  if (!again) chosen.module.show();
  if (focus) $(chosen.name + "-h").focus({ preventScroll: false });
}

function show(signedIn) {
  const me = session.me;
  const sections = signedIn ? allowed() : [];
  $("login").hidden = signedIn;
  $("signout").hidden = !signedIn;
  $("app").hidden = !signedIn || sections.length === 0;
  $("not-allowed").hidden = !signedIn || sections.length > 0;
  $("analytics-link").hidden = !signedIn || !can("analytics:read");
  for (const link of document.querySelectorAll("#sections a")) {
    link.hidden = !sections.some((s) => s.name === link.dataset.section);
  }
  $("who").textContent = signedIn && me
    ? me.name + (me.role ? " · " + (ROLE_NAMES[me.role] || me.role) : "") : "";
  if (!signedIn) current = null;
}

function enter() {
  show(true);
  if (allowed().length) open(location.hash.slice(1), false);
}

const start = signIn(enter, show);

$("signout").addEventListener("click", async () => {
  await api("POST", "/v1/auth/logout");
  session.me = null;
  show(false);
  $("username").focus();
});

// A session that ended elsewhere (expired, signed out in another tab): sign in again.
addEventListener("kefu:signed-out", () => {
  session.me = null;
  show(false);
});

// The section links are plain links to #hashes: back/forward and bookmarks work.
addEventListener("hashchange", () => {
  if (session.me) open(location.hash.slice(1), true);
});

start();
