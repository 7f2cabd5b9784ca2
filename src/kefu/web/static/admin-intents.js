// Intents and their examples (GET/POST/PUT/DELETE /v1/admin/intents). Retraining is
// admin-training.js; conversation review reads the names from here.
import { $, T, api, can, el, fill } from "/console/console-util.js";
import { applyWrite, confirmer, done, failure, lines, signedOut } from "./admin-util.js";
import * as training from "./admin-training.js";

let intents = [];
let editing = null;  // the IntentOut in the form; null: a new intent
let setConfirm = () => {};

const url = (name) => "/v1/admin/intents/" + encodeURIComponent(name);

export function init() {
  $("intent-new").addEventListener("click", () => edit(null));
  $("intent-form").addEventListener("submit", save);
  $("intent-cancel").addEventListener("click", closeForm);
  setConfirm = confirmer("intent", remove);
  training.init();
}

export function show() {
  applyWrite($("intents"));
  closeForm();
  load();
  if (can("knowledge:write")) training.show();  // runs are knowledge-editing business
}

// The intent names (for the review section's "right intent" choice).
export async function names() {
  if (!intents.length) await load(false);
  return intents.map((i) => i.name);
}

async function load(render = true) {
  const res = await api("GET", "/v1/admin/intents");
  if (signedOut(res) || res.status !== 200) {
    if (render && res.status !== 401) $("intent-rows").replaceChildren(message(failure(res)));
    return;
  }
  intents = res.data;
  if (!render) return;
  $("intent-rows").replaceChildren(...intents.map(row));
  if (!intents.length) $("intent-rows").append(message(T.nothing));
}

function message(text) {
  return el("tr", {}, el("td", { colspan: 6, class: "muted", text }));
}

function row(intent) {
  const ex = intent.examples || {};
  const label = fill(can("knowledge:write") ? T.intents_edit : T.intents_view, { name: intent.name });
  return el("tr", { "data-name": intent.name },
    el("td", {}, el("code", { text: intent.name })),
    el("td", { class: "num", text: (ex.zh || []).length }),
    el("td", { class: "num", text: (ex.en || []).length }),
    el("td", { class: "num", text: intent.reviewed || 0 }),
    el("td", {}, intent.flow ? el("code", { text: intent.flow }) : "–"),
    el("td", {}, el("button", {
      type: "button", class: "ghost small", "aria-label": label,
      text: can("knowledge:write") ? T.edit : T.view, onclick: () => edit(intent),
    })));
}

function edit(intent) {
  editing = intent;
  $("intent-error").textContent = "";
  $("intent-form").hidden = false;
  $("intent-split").classList.add("editing");
  $("intent-form-h").textContent = intent ? fill(T.intents_editing, { name: intent.name }) : T.intents_new;
  $("intent-name").value = intent ? intent.name : "";
  $("intent-name").readOnly = Boolean(intent);
  const ex = (intent && intent.examples) || {};
  $("intent-ex-zh").value = (ex.zh || []).join("\n");
  $("intent-ex-en").value = (ex.en || []).join("\n");
  $("intent-delete").hidden = !intent;
  if (intent) setConfirm(fill(T.intents_confirm_delete, { name: intent.name }));
  (intent ? $("intent-form-h") : $("intent-name")).focus();
}

function closeForm() {
  editing = null;
  $("intent-form").hidden = true;
  $("intent-split").classList.remove("editing");
}

async function save(ev) {
  ev.preventDefault();
  $("intent-error").textContent = "";
  const examples = { zh: lines($("intent-ex-zh").value), en: lines($("intent-ex-en").value) };
  const name = $("intent-name").value.trim();
  const res = editing
    ? await api("PUT", url(editing.name), { description: editing.description || null, examples })
    : await api("POST", "/v1/admin/intents", { name, examples });
  if (signedOut(res)) return;
  if (res.status !== 200 && res.status !== 201) {
    $("intent-error").textContent = failure(res);
    return;
  }
  done(null, fill(T.intents_saved, { name: res.data.name }));
  await load();
  edit(res.data);
}

async function remove() {
  if (!editing) return;
  const name = editing.name;
  const res = await api("DELETE", url(name));
  if (signedOut(res)) return;
  if (res.status !== 204 && res.status !== 200) {
    $("intent-error").textContent = failure(res);
    return;
  }
  done(null, fill(T.intents_deleted, { name }));
  closeForm();
  await load();
  $("intent-new").focus();
}
