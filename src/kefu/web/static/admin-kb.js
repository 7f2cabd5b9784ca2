// Knowledge base: search with skill/tag filters, a paged list, import and export
// (GET/POST /v1/admin/knowledge...). One entry's form and history are admin-entry.js.
import { $, T, api, can, el, fill } from "/console/console-util.js";
import { applyWrite, done, failure, refill, signedOut, when } from "./admin-util.js";
import * as entry from "./admin-entry.js";

const PAGE = 25;
const LANG = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
let offset = 0;
let total = 0;
let latest = 0;  // a slow answer to an older search must not overwrite a newer one
let typing = null;

export function init() {
  $("kb-search").addEventListener("submit", (ev) => { ev.preventDefault(); search(); });
  $("kb-q").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(search, 300);
  });
  $("kb-skill").addEventListener("change", search);
  $("kb-tag").addEventListener("change", search);
  $("kb-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  $("kb-next").addEventListener("click", () => { offset += PAGE; load(); });
  $("kb-new").addEventListener("click", () => openEntry(null));
  $("kb-import").addEventListener("submit", importFile);
  entry.init(closeEntry);
}

export function show() {
  applyWrite($("knowledge"));
  // A draft entry handed over by the analytics dashboard (a knowledge-gap cluster) opens in the
  // editor, unsaved, for the admin to complete and publish.
  const draft = entry.takeDraft();
  if (draft && can("knowledge:write")) {
    $("kb-list-view").hidden = true;
    $("kb-edit-view").hidden = false;
    entry.prefill(draft);
    return;
  }
  closeEntry(false);
}

function search() {
  clearTimeout(typing);
  offset = 0;
  load();
}

function openEntry(id) {
  $("kb-list-view").hidden = true;
  $("kb-edit-view").hidden = false;
  entry.open(id);
}

// Back to the list (after a save or delete it is reloaded, so the change shows).
function closeEntry(refocus = true, lastId = null) {
  $("kb-edit-view").hidden = true;
  $("kb-list-view").hidden = false;
  load().then(() => {
    if (!refocus) return;
    const row = lastId && document.querySelector(`#kb-rows tr[data-id="${CSS.escape(lastId)}"] button`);
    (row || $("kb-q")).focus();
  });
}

async function load() {
  const mine = ++latest;
  $("kb-rows").setAttribute("aria-busy", "true");  // until the newest answer is shown
  const params = new URLSearchParams({ offset: String(offset), limit: String(PAGE) });
  for (const [key, id] of [["q", "kb-q"], ["skill", "kb-skill"], ["tag", "kb-tag"]]) {
    const value = $(id).value.trim();
    if (value) params.set(key, value);
  }
  const res = await api("GET", "/v1/admin/knowledge?" + params);
  if (mine !== latest) return;
  if (signedOut(res)) return;
  $("kb-rows").setAttribute("aria-busy", "false");
  if (res.status !== 200) {
    $("kb-count").textContent = failure(res);
    return;
  }
  const data = res.data;
  total = data.total;
  if (offset >= total && total > 0) {  // the last page emptied (a delete elsewhere)
    offset = Math.floor((total - 1) / PAGE) * PAGE;
    return load();
  }
  refill($("kb-skill"), data.skills || []);
  refill($("kb-tag"), data.tags || []);
  $("kb-skills").replaceChildren(...(data.skills || []).map((s) => el("option", { value: s })));
  $("kb-rows").replaceChildren(...data.items.map(row));
  if (!data.items.length) {
    $("kb-rows").append(el("tr", {}, el("td", { colspan: 7, class: "empty", text: T.kb_none })));
  }
  $("kb-count").textContent = fill(T.kb_count, { n: total });
  const last = Math.min(offset + PAGE, total);
  $("kb-page").textContent = total ? fill(T.page_range, { from: offset + 1, to: last, total }) : "";
  $("kb-prev").disabled = offset === 0;
  $("kb-next").disabled = last >= total;
}

function row(item) {
  const question = item.question[LANG] || item.question.zh || item.question.en;
  const label = fill(can("knowledge:write") ? T.kb_edit_entry : T.kb_view_entry, { id: item.id });
  return el("tr", { "data-id": item.id, class: item.enabled ? null : "disabled" },
    el("td", { class: "mono", text: item.id }),
    el("td", {}, question,
      item.action === "handoff" ? el("span", { class: "tag warn", text: T.kb_handoff_badge }) : null,
      item.valid_from || item.valid_until
        ? el("span", { class: "muted small", text: " " + fill(T.kb_valid_range, {
          from: item.valid_from || "…", until: item.valid_until || "…" }) }) : null),
    el("td", { text: item.skill }),
    el("td", { class: "wide-only" }, ...(item.tags || []).map((t) => el("span", { class: "tag", text: t }))),
    el("td", { text: item.enabled ? T.yes : T.no }),
    el("td", { class: "small wide-only", text: when(item.updated_at) }),
    el("td", {}, el("button", {
      type: "button", class: "ghost small", "aria-label": label,
      text: can("knowledge:write") ? T.edit : T.view,
      onclick: () => openEntry(item.id),
    })));
}

async function importFile(ev) {
  ev.preventDefault();
  const file = $("kb-file").files[0];
  $("kb-import-result").textContent = "";
  $("kb-import-errors").hidden = true;
  if (!file) return;
  const button = ev.submitter || $("kb-import").querySelector("button");
  button.disabled = true;
  const res = await api("POST", "/v1/admin/knowledge/import?filename=" + encodeURIComponent(file.name), file);
  button.disabled = false;
  if (signedOut(res)) return;
  if (res.status === 200 || res.status === 201) {
    const packs = (res.data.packs || []).join(", ");
    done($("kb-import-result"), fill(T.kb_imported, {
      created: res.data.created, updated: res.data.updated, packs,
    }));
    $("kb-file").value = "";
    search();
    return;
  }
  const error = (res.data && res.data.error) || {};
  const problems = Array.isArray(error.problems) && error.problems.length
    ? error.problems : [failure(res)];
  $("kb-import-problems").replaceChildren(...problems.map((p) => el("li", { text: p })));
  $("kb-import-errors").hidden = false;
}
