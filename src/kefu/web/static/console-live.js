// One WebSocket per console, /v1/agent/ws: inbox events, messages of the watched conversation
// and the customer's typing. Reconnects with backoff; new chats ring and notify.
import { $, T, announce, api, customerName, fill, reasonText, session } from "./console-util.js";

let socket = null;
let wanted = false;   // signed in as an agent: keep a socket open
let attempt = 0;
let retryTimer = null;
let handlers = {};
let watching = null;
let audio = null;
const alerted = new Map();  // conversation id -> time of the last alert (one per burst)

export function on(map) { handlers = map; }

export function connect() {
  wanted = true;
  if (socket && socket.readyState <= WebSocket.OPEN) return;
  clearTimeout(retryTimer);
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/agent/ws";
  const ws = new WebSocket(url);
  socket = ws;
  ws.addEventListener("open", () => {
    attempt = 0;
    $("ws-state").hidden = true;
    if (handlers.reconnected) handlers.reconnected();
  });
  ws.addEventListener("message", (ev) => {
    let frame;
    try { frame = JSON.parse(ev.data); } catch { return; }
    if (frame.type === "inbox") newChatAlert(frame);
    const handler = handlers[frame.type];
    if (handler) handler(frame);
  });
  ws.addEventListener("close", async (ev) => {
    if (socket !== ws) return;
    socket = null;
    if (!wanted) return;
    $("ws-state").hidden = false;
    if (ev.code === 1008 || ev.code === 4401 || ev.code === 4403) {
      // Refused: if the session is gone, sign out instead of knocking forever.
      const me = await api("GET", "/v1/auth/me");
      if (me.status === 401) { dispatchEvent(new Event("kefu:signed-out")); return; }
    }
    const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt = Math.min(attempt + 1, 6);
    retryTimer = setTimeout(connect, delay);
  });
}

export function disconnect() {
  wanted = false;
  watching = null;
  clearTimeout(retryTimer);
  $("ws-state").hidden = true;
  if (socket) { const ws = socket; socket = null; ws.close(1000); }
}

export function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

// `after`: the last seq shown, so a re-watch brings exactly what was missed.
export function watch(id, after) {
  if (watching && watching !== id) send({ type: "unwatch", conversation_id: watching });
  watching = id;
  send({ type: "watch", conversation_id: id, after });
}

export function unwatch(id) {
  if (watching !== id) return;
  send({ type: "unwatch", conversation_id: id });
  watching = null;
}

// --- new-chat alerts --------------------------------------------------------------------

// Queued: everyone may take it. Assigned: only when routing chose this agent (the frame's
// handoff says who; a frame without it is checked against "mine").
async function forMe(frame) {
  if (frame.event === "queued") return Boolean(session.agent && session.agent.status === "online");
  if (!["assigned", "transferred"].includes(frame.event) || !session.me) return false;
  if (frame.agent_id !== undefined) return frame.agent_id === session.me.id;
  if (frame.handoff) return Boolean(frame.handoff.agent && frame.handoff.agent.id === session.me.id);
  const res = await api("GET", "/v1/agent/inbox?view=mine");
  if (res.status !== 200) return false;
  const item = res.data.find((i) => i.conversation_id === frame.conversation_id);
  if (item && item.handoff) frame.handoff = item.handoff;
  return Boolean(item);
}

async function newChatAlert(frame) {
  if (!(await forMe(frame))) return;
  const now = Date.now();
  if (now - (alerted.get(frame.conversation_id) || 0) < 10000) return;
  alerted.set(frame.conversation_id, now);
  const h = frame.handoff || {};
  const title = fill(frame.event === "queued" ? T.alert_queued : T.alert_assigned,
    { who: customerName(h.customer || null, frame.conversation_id) });
  const body = [h.priority && h.priority !== "normal" ? T["priority_" + h.priority] : null,
    reasonText(h.reason)].filter(Boolean).join(" · ");
  document.documentElement.dataset.alerts = String(Number(document.documentElement.dataset.alerts || 0) + 1);
  announce(body ? title + " · " + body : title);
  ring();
  if ("Notification" in window && Notification.permission === "granted" && !document.hasFocus()) {
    try {
      const note = new Notification(title, { body, tag: "kefu-" + frame.conversation_id, lang: document.documentElement.lang });
      note.onclick = () => {
        window.focus();
        dispatchEvent(new CustomEvent("kefu:open", { detail: frame.conversation_id }));
        note.close();
      };
    } catch { /* some browsers only notify from a service worker: the sound is enough */ }
  }
}

// Two short tones from an oscillator: no audio file to fetch, nothing for the CSP to allow.
function ring() {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const t0 = audio.currentTime;
    [[0, 880], [0.16, 1320]].forEach(([at, hz]) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.0001, t0 + at);
      gain.gain.exponentialRampToValueAtTime(0.2, t0 + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.14);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.15);
    });
  } catch { /* no audio device: silent */ }
}

function notifyState() {
  const button = $("notify");
  if (!("Notification" in window)) { button.textContent = T.notify_sound_only; return; }
  if (Notification.permission === "granted") button.textContent = T.notify_on;
  else if (Notification.permission === "denied") button.textContent = T.notify_denied;
  button.setAttribute("aria-pressed", String(Notification.permission === "granted"));
}

// Asked from a click, never on load: browsers ignore (or punish) unprompted requests, and the
// click also lets the page play sound.
$("notify").addEventListener("click", async () => {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") await audio.resume();
  } catch { /* no audio */ }
  if ("Notification" in window && Notification.permission === "default") {
    await Notification.requestPermission();
  }
  notifyState();
  ring();
});
if ("Notification" in window && Notification.permission !== "default") notifyState();
