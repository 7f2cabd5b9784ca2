// One knowledge entry: the form (create or edit), delete with confirmation, the "someone else
// saved" conflict (409 stale_version) with a reload, and the entry's history with revert.
import { $, T, api, can, el, fill } from "/console/console-util.js";
import { confirmer, done, failure, lines, signedOut, when, words } from "./admin-util.js";

let loaded = null;  // the EntryOut being edited, as last read or saved; null: a new entry
let close = () => {};
let setConfirm = () => {};

const url = (id) => "/v1/admin/knowledge/" + encodeURIComponent(id);

export function init(onClose) {
  close = onClose;
  $("kb-form").addEventListener("submit", save);
  $("kb-back").addEventListener("click", () => close(true, loaded && loaded.id));
  $("kb-reload").addEventListener("click", () => open(loaded.id));
  setConfirm = confirmer("kb", remove);
}

export async function open(id) {
  loaded = null;
  $("kb-form").reset();
  $("kb-stale").hidden = true;
  $("kb-form-error").textContent = "";
  $("kb-form-status").textContent = "";
  $("kb-versions").replaceChildren();
  $("kb-history").hidden = id === null;
  $("kb-delete").hidden = id === null;
  $("kb-id").readOnly = id !== null;
  if (id === null) {
    $("kb-edit-h").textContent = T.kb_new_entry;
    $("kb-id").focus();
    return;
  }
  $("kb-edit-h").textContent = fill(T.kb_entry_title, { id });
  const res = await api("GET", url(id));
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("kb-form-error").textContent = failure(res);
    return;
  }
  show(res.data);
  $("kb-edit-h").focus();
  history(id);
}

// The analytics dashboard leaves a draft entry here (sessionStorage, this tab only); read once.
const DRAFT_KEY = "kefu.admin.draft";

export function takeDraft() {
  const raw = sessionStorage.getItem(DRAFT_KEY);
  sessionStorage.removeItem(DRAFT_KEY);
  try {
    const draft = raw ? JSON.parse(raw) : null;
    return draft && typeof draft === "object" ? draft : null;
  } catch {
    return null;
  }
}

// A new entry's form filled from a draft: nothing is saved until the admin saves it.
export function prefill(draft) {
  open(null);
  fillFields(draft);
}

function fillFields(entry) {
  $("kb-id").value = entry.id || "";
  $("kb-f-skill").value = entry.skill || "";
  $("kb-f-tags").value = (entry.tags || []).join(", ");
  for (const lang of ["zh", "en"]) {
    $("kb-q-" + lang).value = (entry.question || {})[lang] || "";
    $("kb-sim-" + lang).value = ((entry.similar || {})[lang] || []).join("\n");
    $("kb-kw-" + lang).value = ((entry.keywords || {})[lang] || []).join(", ");
    $("kb-a-" + lang).value = (entry.answer || {})[lang] || "";
  }
  $("kb-handoff").checked = entry.action === "handoff";
  $("kb-enabled").checked = entry.enabled !== false;
  $("kb-from").value = entry.valid_from || "";
  $("kb-until").value = entry.valid_until || "";
}

function show(entry) {
  loaded = entry;
  $("kb-edit-h").textContent = fill(T.kb_entry_title, { id: entry.id });
  fillFields(entry);
  $("kb-id").readOnly = true;
  $("kb-delete").hidden = false;
  $("kb-history").hidden = false;
  setConfirm(fill(T.kb_confirm_delete, { id: entry.id }));
}

function fields() {
  const pair = (prefix, read) => ({ zh: read($(prefix + "zh").value), en: read($(prefix + "en").value) });
  return {
    id: $("kb-id").value.trim(),
    skill: $("kb-f-skill").value.trim(),
    tags: words($("kb-f-tags").value),
    question: pair("kb-q-", (v) => v.trim()),
    similar: pair("kb-sim-", lines),
    keywords: pair("kb-kw-", words),
    answer: pair("kb-a-", (v) => v.trim()),
    action: $("kb-handoff").checked ? "handoff" : null,
    enabled: $("kb-enabled").checked,
    valid_from: $("kb-from").value || null,
    valid_until: $("kb-until").value || null,
  };
}

function stale() {
  $("kb-stale").hidden = false;
  $("kb-reload").focus();
}

async function save(ev) {
  ev.preventDefault();
  $("kb-form-error").textContent = "";
  $("kb-form-status").textContent = "";
  $("kb-stale").hidden = true;
  const body = fields();
  const button = $("kb-save");
  button.disabled = true;
  const res = loaded
    ? await api("PUT", url(loaded.id), { ...body, expected_version: loaded.version })
    : await api("POST", "/v1/admin/knowledge", body);
  button.disabled = false;
  if (signedOut(res)) return;
  if (res.status === 200 || res.status === 201) {
    const created = !loaded;
    show(res.data);
    done($("kb-form-status"), fill(created ? T.kb_created : T.kb_saved, { id: res.data.id }));
    history(res.data.id);
    return;
  }
  if (res.code === "stale_version") return stale();
  $("kb-form-error").textContent = failure(res);
}

async function remove() {
  if (!loaded) return;
  const res = await api("DELETE", url(loaded.id) + "?expected_version=" + loaded.version);
  if (signedOut(res)) return;
  if (res.status === 204 || res.status === 200) {
    done(null, fill(T.kb_deleted, { id: loaded.id }));
    close(true, null);
    return;
  }
  if (res.code === "stale_version") return stale();
  $("kb-form-error").textContent = failure(res);
}

// A field's value in a diff: lists one per line, nothing as a dash.
function value(v) {
  if (v === null || v === undefined || v === "") return "–";
  if (Array.isArray(v)) return v.length ? v.join("\n") : "–";
  if (typeof v === "object") return JSON.stringify(v);
  if (typeof v === "boolean") return v ? T.yes : T.no;
  return String(v);
}

async function history(id) {
  const res = await api("GET", url(id) + "/history");
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("kb-versions").replaceChildren(el("li", { class: "error", text: failure(res) }));
    return;
  }
  const versions = res.data;
  $("kb-versions").replaceChildren(...versions.map((v, index) => version(id, v, index === 0)));
}

function version(id, v, newest) {
  const changes = v.changes || [];
  const item = el("li", { "data-version": v.version },
    el("p", { class: "version-head" },
      el("strong", { text: fill(T.history_version, { n: v.version }) }),
      el("span", { class: "tag", text: T["history_" + v.action] || v.action }),
      el("span", { text: v.actor || "–" }),
      el("time", { datetime: v.created_at, text: when(v.created_at) })));
  if (changes.length) {
    item.append(el("table", { class: "data compact diff" },
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: T.history_field }),
        el("th", { scope: "col", text: T.history_before }),
        el("th", { scope: "col", text: T.history_after }))),
      el("tbody", {}, ...changes.map((c) => el("tr", {},
        el("td", { class: "mono", text: c.field }),
        el("td", { class: "before", text: value(c.before) }),
        el("td", { class: "after", text: value(c.after) }))))));
  } else {
    item.append(el("p", { class: "muted small", text: v.data ? T.history_no_changes : T.history_gone }));
  }
  if (!newest && can("knowledge:write")) {
    item.append(el("button", {
      type: "button", class: "ghost small",
      text: fill(T.history_revert_to, { n: v.version }),
      onclick: (ev) => revert(id, v.version, ev.currentTarget),
    }));
  }
  return item;
}

async function revert(id, number, button) {
  button.disabled = true;
  const res = await api("POST", url(id) + "/revert", { version: number });
  button.disabled = false;
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("kb-form-error").textContent = failure(res);
    return;
  }
  const text = fill(T.history_reverted, { id, n: number });
  if (res.data.deleted || !res.data.entry) {
    done(null, text);
    close(true, null);
    return;
  }
  show(res.data.entry);
  done($("kb-form-status"), text);
  history(id);
}
