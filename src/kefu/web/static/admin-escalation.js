// Escalation rules and business hours (GET/PUT /v1/admin/escalation, the EscalationRules model
// of kefu/dialogue/escalation.py). The server validates; its message names the field.
import { $, T, api, el } from "/console/console-util.js";
import { done, failure, lines, signedOut, words } from "./admin-util.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const COUNTS = ["fallbacks", "vip_fallbacks", "anger_turns", "anger_window", "negative_turns"];

export function init() {
  $("esc-days").replaceChildren(...DAYS.map((day) => el("label", {},
    T["day_" + day] || day,
    el("input", { id: "esc-day-" + day, maxlength: 200, autocomplete: "off", "aria-describedby": "esc-spans-help" }))));
  $("esc-hours-on").addEventListener("change", toggleHours);
  $("esc-form").addEventListener("submit", save);
}

function toggleHours() {
  const on = $("esc-hours-on").checked;
  $("esc-hours").hidden = !on;
  $("esc-hours-on").setAttribute("aria-expanded", String(on));
}

export async function show() {
  $("esc-error").textContent = "";
  const res = await api("GET", "/v1/admin/escalation");
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("esc-error").textContent = failure(res);
    return;
  }
  fillForm(res.data);
}

function fillForm(rules) {
  for (const name of COUNTS) $("esc-" + name).value = rules[name];
  $("esc-negative_below").value = rules.negative_below;
  $("esc-vip_tiers").value = (rules.vip_tiers || []).join(", ");
  const hours = rules.business_hours;
  $("esc-hours-on").checked = Boolean(hours);
  $("esc-timezone").value = hours ? hours.timezone : "Asia/Shanghai";
  for (const day of DAYS) {
    $("esc-day-" + day).value = hours ? ((hours.weekly || {})[day] || []).join(", ") : "";
  }
  $("esc-closed").value = hours ? (hours.closed_dates || []).join("\n") : "";
  toggleHours();
}

function rules() {
  const body = {};
  for (const name of COUNTS) body[name] = Number.parseInt($("esc-" + name).value, 10);
  body.negative_below = Number.parseFloat($("esc-negative_below").value);
  body.vip_tiers = words($("esc-vip_tiers").value);
  body.business_hours = null;
  if ($("esc-hours-on").checked) {
    const weekly = {};
    for (const day of DAYS) {
      const spans = words($("esc-day-" + day).value);
      if (spans.length) weekly[day] = spans;
    }
    body.business_hours = {
      timezone: $("esc-timezone").value.trim() || "Asia/Shanghai",
      weekly,
      closed_dates: lines($("esc-closed").value),
    };
  }
  return body;
}

async function save(ev) {
  ev.preventDefault();
  $("esc-error").textContent = "";
  $("esc-status").textContent = "";
  const res = await api("PUT", "/v1/admin/escalation", rules());
  if (signedOut(res)) return;
  if (res.status !== 200) {
    $("esc-error").textContent = failure(res);
    return;
  }
  fillForm(res.data);
  done($("esc-status"), T.saved);
}
