// Settings (admins): agents' capacity, skills, languages and teams (/v1/agent/agents), the
// escalation rules (admin-escalation.js), canned responses (/v1/agent/canned) and the chat
// widget's look and allowed sites (/v1/admin/widget).
import { $, T, api, el, fill } from "/console/console-util.js";
import { done, failure, lines, signedOut, words } from "./admin-util.js";
import * as escalation from "./admin-escalation.js";

export function init() {
  escalation.init();
  $("canned-form").addEventListener("submit", addCanned);
  $("widget-form").addEventListener("submit", saveWidget);
  $("widget-form").addEventListener("input", previewLink);
}

export function show() {
  loadAgents();
  escalation.show();
  loadCanned();
  loadWidget();
}

// -- agents ----------------------------------------------------------------------------------

async function loadAgents() {
  const res = await api("GET", "/v1/agent/agents");
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("agent-rows").replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted", text: failure(res) })));
    return;
  }
  $("agent-rows").replaceChildren(...res.data.map(agentRow));
  if (!res.data.length) {
    $("agent-rows").append(el("tr", {}, el("td", { colspan: 6, class: "muted", text: T.agents_none })));
  }
}

function agentRow(agent) {
  const id = agent.account_id;
  const input = (field, attrs) => el("input", {
    id: `agent-${field}-${id}`, "aria-label": fill(T["agents_" + field + "_of"], { name: agent.name }), ...attrs,
  });
  const capacity = input("capacity", { type: "number", min: 1, max: 50, required: true, value: agent.capacity });
  const skills = input("skills", { value: agent.skills.join(", "), maxlength: 700, autocomplete: "off" });
  const teams = input("teams", { value: agent.teams.join(", "), maxlength: 1400, autocomplete: "off" });
  const langs = ["zh", "en"].map((lang) => el("label", { class: "check" },
    el("input", { type: "checkbox", value: lang, checked: agent.languages.includes(lang) }),
    lang === "zh" ? "中文" : "English"));
  const save = el("button", {
    type: "button", class: "small", text: T.save,
    "aria-label": fill(T.agents_save_of, { name: agent.name }),
    onclick: async () => {
      if (!capacity.reportValidity()) return;
      save.disabled = true;
      const res = await api("PUT", "/v1/agent/agents/" + id, {
        capacity: Number.parseInt(capacity.value, 10),
        skills: words(skills.value),
        languages: langs.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value),
        teams: words(teams.value),
      });
      save.disabled = false;
      if (signedOut(res)) return;
      done($("agents-status"), res.status === 200
        ? fill(T.agents_saved, { name: agent.name }) : failure(res));
    },
  });
  return el("tr", { "data-id": id },
    el("th", { scope: "row" }, agent.name, el("span", { class: "muted small", text: " " + (T["status_" + agent.status] || agent.status) })),
    el("td", {}, capacity),
    el("td", {}, skills),
    el("td", {}, el("span", { class: "group", role: "group", "aria-label": fill(T.agents_languages_of, { name: agent.name }) }, ...langs)),
    el("td", {}, teams),
    el("td", {}, save));
}

// -- canned responses ------------------------------------------------------------------------

async function loadCanned() {
  const res = await api("GET", "/v1/agent/canned");
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("canned-items").replaceChildren(el("li", { class: "muted", text: failure(res) }));
    return;
  }
  const bundled = res.data.some((c) => typeof c.id === "string");
  $("canned-items").replaceChildren(...res.data.map(cannedItem));
  if (bundled) $("canned-items").prepend(el("li", { class: "help", text: T.canned_bundled }));
  if (!res.data.length) $("canned-items").append(el("li", { class: "muted", text: T.nothing }));
}

function cannedItem(c) {
  const item = el("li", { "data-id": c.id },
    el("div", { class: "canned-text" },
      el("strong", { text: c.title }), el("span", { class: "tag", text: c.language }),
      el("p", { text: c.text })));
  if (typeof c.id !== "number") return item;  // a bundled one: goes when the tenant has its own
  const yes = el("button", { type: "button", class: "danger small", text: T.confirm_delete, hidden: true });
  const no = el("button", { type: "button", class: "ghost small", text: T.cancel, hidden: true });
  const ask = el("button", {
    type: "button", class: "ghost small", text: T.delete,
    "aria-label": fill(T.canned_delete_of, { title: c.title }),
  });
  ask.addEventListener("click", () => { ask.hidden = true; yes.hidden = false; no.hidden = false; no.focus(); });
  no.addEventListener("click", () => { ask.hidden = false; yes.hidden = true; no.hidden = true; ask.focus(); });
  yes.addEventListener("click", async () => {
    const res = await api("DELETE", "/v1/agent/canned/" + c.id);
    if (signedOut(res)) return;
    if (res.status === 204) {
      done(null, fill(T.canned_deleted, { title: c.title }));
      await loadCanned();
      $("canned-title").focus();
    } else {
      $("canned-error").textContent = failure(res);
    }
  });
  item.append(el("div", { class: "buttons" }, ask, yes, no));
  return item;
}

async function addCanned(ev) {
  ev.preventDefault();
  $("canned-error").textContent = "";
  const skill = $("canned-skill").value.trim();
  const res = await api("POST", "/v1/agent/canned", {
    title: $("canned-title").value.trim(),
    language: $("canned-lang").value,
    text: $("canned-text").value,
    skill: skill || null,
  });
  if (signedOut(res)) return;
  if (res.status !== 201 && res.status !== 200) {
    $("canned-error").textContent = failure(res);
    return;
  }
  done(null, fill(T.canned_added, { title: res.data.title }));
  $("canned-form").reset();
  loadCanned();
}

// -- widget ----------------------------------------------------------------------------------

const WIDGET_TEXT = ["title", "greeting"];

async function loadWidget() {
  const res = await api("GET", "/v1/admin/widget");
  if (signedOut(res)) return;
  const ok = res.status === 200;
  $("widget-missing").hidden = res.status !== 404;  // this kefu has no widget settings yet
  $("widget-fields").disabled = !ok;
  $("widget-form").querySelector("button[type=submit]").disabled = !ok;
  if (!ok) {
    if (res.status !== 404) $("widget-error").textContent = failure(res);
    return;
  }
  fillWidget(res.data);
}

function fillWidget(w) {
  for (const field of WIDGET_TEXT) {
    for (const lang of ["zh", "en"]) $(`widget-${field}-${lang}`).value = ((w[field] || {})[lang]) || "";
  }
  $("widget-color").value = /^#[0-9a-fA-F]{6}$/.test(w.color || "") ? w.color : "#1677ff";
  $("widget-position").value = w.position === "left" ? "left" : "right";
  $("widget-logo").value = w.logo_url || "";
  $("widget-origins").value = (w.allowed_origins || []).join("\n");
  previewLink();
}

// The preview shows the form as it is now, saved or not, in the page's language.
function previewLink() {
  const lang = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
  const params = new URLSearchParams({ lang });
  const values = {
    title: $(`widget-title-${lang}`).value.trim(),
    greeting: $(`widget-greeting-${lang}`).value.trim(),
    color: $("widget-color").value,
    position: $("widget-position").value,
    logo: $("widget-logo").value.trim(),
  };
  for (const [name, value] of Object.entries(values)) if (value) params.set(name, value);
  $("widget-preview").href = "/admin/widget-preview?" + params;
}

async function saveWidget(ev) {
  ev.preventDefault();
  $("widget-error").textContent = "";
  $("widget-status").textContent = "";
  const body = {};
  for (const field of WIDGET_TEXT) {
    body[field] = { zh: $(`widget-${field}-zh`).value.trim(), en: $(`widget-${field}-en`).value.trim() };
  }
  body.color = $("widget-color").value;
  body.position = $("widget-position").value;
  body.logo_url = $("widget-logo").value.trim();  // "" is no logo
  body.allowed_origins = lines($("widget-origins").value);
  const res = await api("PUT", "/v1/admin/widget", body);
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("widget-error").textContent = failure(res);
    return;
  }
  fillWidget(res.data);
  done($("widget-status"), T.saved);
}
