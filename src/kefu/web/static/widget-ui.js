/* kefu chat widget, its UI: the shadow root, drawing messages, rich replies, the queue,
   typing and the survey. Included by the server into widget.js's closure, so it shares that
   file's state (cfg, S, ui, conv, ...); not a script of its own. */
  // -- the UI -------------------------------------------------------------------------------
  function el(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = text;  // never innerHTML
    return n;
  }

  function onBrand(hex) {  // dark or light text, whichever reads on the brand colour
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.4 ? "#1f2329" : "#fff";
  }

  function build() {
    if (ui) return;
    const color = /^#[0-9a-f]{6}$/i.test(attr("color")) ? attr("color") : cfg.color;
    const position = ["left", "right"].includes(attr("position")) ? attr("position") : cfg.position;
    const logo = httpUrl(attr("logo")) || httpUrl(cfg.logo_url);
    const host = document.createElement("kefu-widget");
    const shadow = host.attachShadow({ mode: "open" });
    if (shadow.adoptedStyleSheets && window.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet();  // not an inline <style>: a strict page CSP allows it
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } else {
      shadow.appendChild(el("style", null, CSS));
    }
    const root = el("div", "kefu");
    root.dataset.position = position;
    root.style.setProperty("--brand", color);
    root.style.setProperty("--on-brand", onBrand(color));
    root.lang = cfg.lang === "zh" ? "zh-CN" : "en";

    const launcher = el("button", "launcher");
    launcher.type = "button";
    launcher.setAttribute("aria-label", S.open);
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "kefu-panel");
    launcher.appendChild(icon(logo));

    const panel = el("section", "panel");
    panel.id = "kefu-panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "false");
    panel.setAttribute("aria-labelledby", "kefu-title");
    const header = el("header");
    if (logo) header.appendChild(image(logo));
    const title = el("h2", null, attr("title") || cfg.title);
    title.id = "kefu-title";
    const closer = el("button", "close");
    closer.type = "button";
    closer.setAttribute("aria-label", S.close);
    closer.appendChild(el("span", null, "×")).setAttribute("aria-hidden", "true");
    header.append(title, closer);

    const log = el("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", S.log);
    log.tabIndex = 0;  // scrollable by keyboard
    const greeting = el("div", "msg bot greeting");
    greeting.append(el("span", "sr", S.bot), el("span", "text", attr("greeting") || cfg.greeting));
    log.appendChild(greeting);
    const queue = el("div", "banner queue");
    queue.setAttribute("role", "status");
    queue.hidden = true;
    const offline = el("div", "banner offline", S.offline);
    offline.setAttribute("role", "status");
    offline.hidden = navigator.onLine !== false;
    const typing = el("div", "typing");
    typing.setAttribute("aria-live", "polite");
    const form = el("form");
    const input = el("textarea");
    input.rows = 1;
    input.maxLength = cfg.max_chars;
    input.placeholder = S.placeholder;
    input.setAttribute("aria-label", S.input);
    const send = el("button", "send", S.send);
    send.type = "submit";
    send.setAttribute("aria-label", S.send_label);
    form.append(input, send);
    panel.append(header, log, queue, offline, typing, form);
    root.append(panel, launcher);
    shadow.appendChild(root);
    document.body.appendChild(host);
    ui = { host, root, launcher, panel, log, queue, offline, typing, input, send };

    launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
    closer.addEventListener("click", close);
    root.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !panel.hidden) { e.stopPropagation(); close(); }
    });
    form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); submit(); }
    });
    input.addEventListener("input", typed);
    restore();
    let reopen = false;
    try { reopen = sessionStorage.getItem(KEY + ":open") === "1"; } catch (e) { /* no storage */ }
    if (wantOpen === true || (wantOpen === null && reopen)) open(wantOpen === true);
  }

  function image(src, fallback) {  // a logo that doesn't load gives way to the fallback
    const img = el("img");
    img.alt = "";
    img.referrerPolicy = "no-referrer";
    img.addEventListener("error", () => (fallback ? img.replaceWith(fallback()) : img.remove()));
    img.src = src;
    return img;
  }

  function icon(logo) {
    if (logo) return image(logo, icon);
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", "M12 3C6.5 3 2 6.6 2 11c0 2.4 1.3 4.5 3.4 6L4.5 21l4.3-2.3c1 .3 2.1.4 3.2.4 5.5 0 10-3.6 10-8S17.5 3 12 3Z");
    svg.appendChild(path);
    return svg;
  }

  function remember(isOpen) {
    try { sessionStorage.setItem(KEY + ":open", isOpen ? "1" : "0"); } catch (e) { /* no storage */ }
  }

  function open(focus = true) {
    ui.panel.hidden = false;
    ui.root.classList.add("open");
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.classList.remove("unread");
    ui.launcher.setAttribute("aria-label", S.open);
    ui.log.scrollTop = ui.log.scrollHeight;
    remember(true);
    if (focus) ui.input.focus();
  }

  function close() {
    ui.panel.hidden = true;
    ui.root.classList.remove("open");
    ui.launcher.setAttribute("aria-expanded", "false");
    remember(false);
    ui.launcher.focus();
  }

  // Stored messages go in seq order; bubbles not stored yet stay below them.
  function place(node, seq) {
    let before = null;
    if (seq !== undefined) {
      for (const child of ui.log.children) {
        if (child.classList.contains("unsent") || Number(child.dataset.seq) > seq) { before = child; break; }
      }
    }
    ui.log.insertBefore(node, before);
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function bubble(role, text, seq) {
    const div = el("div", "msg " + role);
    if (role === "customer") div.appendChild(el("span", "sr", S.you));
    else if (role === "bot") div.appendChild(el("span", "sr", S.bot));
    div.appendChild(el("span", "text", text));
    place(div, seq);
    return div;
  }

  // A customer bubble's delivery: pending (sending or queued), failed (will be resent),
  // rejected (the server refused it: not resent), or stored (no mark).
  function state(div, which, why) {
    if (!div) return;
    let line = div.querySelector(".state");
    if (!which || which === "rejected") div.classList.remove("unsent");  // stays where it is
    if (!which) { delete div.dataset.state; if (line) line.remove(); return; }
    div.dataset.state = which;
    if (!line) line = div.appendChild(el("span", "state"));
    line.textContent = which === "pending" ? S.pending : which === "failed" ? S.failed : why || S.rejected;
    if (which === "failed") {
      const retry = line.appendChild(el("button", null, S.retry));
      retry.type = "button";
      retry.addEventListener("click", () => { flushDelay = 1000; flush(); ui.input.focus(); });
    }
  }

  // One way to draw a stored message, whichever path brought it (answer, socket, history).
  function render(m, live) {
    if (!m || typeof m.id !== "number" || shown.has(m.id)) return;
    if (m.seq > lastSeq) lastSeq = m.seq;
    const p = m.payload || {};
    let div;
    if (m.role === "customer") {
      div = bubbles.get(m.client_message_id);
      if (div) {
        bubbles.delete(m.client_message_id);
        state(div, null);
        div.dataset.seq = m.seq;
        place(div, m.seq);  // from the bottom to its place among the stored ones
      } else {
        div = bubble("customer", m.text, m.seq);
      }
      if (m.client_message_id) acked(m.client_message_id);
    } else if (m.role === "agent") {
      hadAgent = true;
      stopTyping();
      div = el("div", "msg agent");
      div.dataset.seq = m.seq;
      div.append(el("span", "who", p.agent || S.agent), el("span", "text", m.text));
      place(div, m.seq);
    } else if (m.role === "system") {
      div = bubble("system", m.text, m.seq);
      if (p.kind) div.dataset.kind = p.kind;
      if (p.kind === "joined") { hadAgent = true; hideQueue(); }
    } else {
      div = bubble("bot", m.text, m.seq);
      if (p.faq) div.dataset.faq = p.faq;
    }
    div.dataset.id = m.id;
    div.dataset.seq = m.seq;
    shown.set(m.id, div);
    if (m.role === "bot") rich(p, div, m.seq);
    if (m.role === "system" && p.survey) survey();
    if (live && m.role !== "customer" && ui.panel.hidden) {
      ui.launcher.classList.add("unread");
      ui.launcher.setAttribute("aria-label", S.open_unread);
    }
  }

  // Quick replies and card buttons send their text; links (http/https only) open a new tab.
  function rich(p, div, seq) {
    if (p.card && Array.isArray(p.card.fields) && p.card.fields.length) {
      const dl = el("dl", "card");
      for (const f of p.card.fields) dl.append(el("dt", null, f.label), el("dd", null, f.value));
      div.appendChild(dl);
    }
    const choices = [...(p.quick_replies || []), ...((p.card && p.card.buttons) || []), ...(p.links || [])];
    const row = el("div", "choices");
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", S.suggestions);
    for (const c of choices) {
      if (!c || !c.title) continue;
      if (c.url !== undefined) {
        const href = httpUrl(c.url);
        if (!href) continue;
        const a = row.appendChild(el("a", null, c.title));
        a.href = href; a.target = "_blank"; a.rel = "noopener noreferrer";
        continue;
      }
      const b = row.appendChild(el("button", null, c.title));
      b.type = "button";
      b.addEventListener("click", () => { say(c.send || c.title); ui.input.focus(); });
    }
    if (!row.children.length) return;
    row.dataset.seq = seq;
    place(row, seq);
  }

  function submit() {
    const text = ui.input.value.trim();
    if (!text) return;
    ui.input.value = "";
    say(text);
    ui.input.focus();
  }


  function showQueue(q) {
    const parts = [];
    if (typeof q.position === "number") {
      if (typeof q.wait_seconds === "number") {
        parts.push(fill(S["queue.wait"], { position: q.position, minutes: Math.max(1, Math.ceil(q.wait_seconds / 60)) }));
      } else {
        parts.push(fill(q.agents_online === 0 ? S["queue.position"] : S["queue.no_estimate"], { position: q.position }));
      }
    }
    if (q.agents_online === 0) parts.push(S["queue.nobody_online"]);
    ui.queue.textContent = parts.length ? parts.join(S["queue.separator"] || "") : S.waiting;
    ui.queue.hidden = false;
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function hideQueue() { if (ui) { ui.queue.hidden = true; ui.queue.textContent = ""; } }

  let typingTimer = null, typedAt = 0;
  function startTyping() {
    ui.typing.textContent = S.typing;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 4000);
  }
  function stopTyping() { clearTimeout(typingTimer); if (ui) ui.typing.textContent = ""; }
  function typed() {  // tell the agent, at most every 2 s
    const now = Date.now();
    if (!ws || ws.readyState !== WebSocket.OPEN || now - typedAt < 2000 || !ui.input.value.trim()) return;
    typedAt = now;
    ws.send(JSON.stringify({ type: "typing" }));
  }

  // -- the satisfaction survey, once per conversation an agent served -----------------------
  let surveyFor = null;
  function survey() {
    const rec = load();
    if (!conv || surveyFor === conv.id || (rec.rated || []).includes(conv.id)) return;
    surveyFor = conv.id;
    const target = { id: conv.id, token: conv.token };
    const old = ui.log.querySelector(".survey");
    if (old) old.remove();
    const box = el("section", "survey");
    box.setAttribute("aria-labelledby", "kefu-survey-title");
    const title = el("h3", null, S["survey.title"]);
    title.id = "kefu-survey-title";
    const stars = el("div", "stars");
    stars.setAttribute("role", "group");
    stars.setAttribute("aria-labelledby", "kefu-survey-title");
    const comment = el("textarea");
    comment.maxLength = 2000;
    comment.placeholder = S["survey.comment"];
    comment.setAttribute("aria-label", S["survey.comment"]);
    const submitButton = el("button", "submit", S["survey.send"]);
    submitButton.type = "button";
    submitButton.disabled = true;
    let score = 0, errorLine = null;
    for (let n = 1; n <= 5; n++) {
      const b = stars.appendChild(el("button", null, String(n)));
      b.type = "button";
      b.setAttribute("aria-label", fill(n === 1 ? S["survey.star_one"] : S["survey.star"], { n }));
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", () => {
        score = n;
        for (const other of stars.children) other.setAttribute("aria-pressed", String(other === b));
        submitButton.disabled = false;
      });
    }
    submitButton.addEventListener("click", async () => {
      submitButton.disabled = true;
      if (errorLine) { errorLine.remove(); errorLine = null; }
      try {
        await api("POST", "/v1/conversations/" + target.id + "/rating", { score, comment: comment.value.trim() || null }, target.token);
      } catch (err) {
        if (err.code !== "already_rated") {
          errorLine = box.appendChild(el("div", "error", S["survey.error"]));
          errorLine.setAttribute("role", "alert");
          submitButton.disabled = false;
          return;
        }
      }
      update((r) => { r.rated = [...(r.rated || []), target.id].slice(-20); });
      const done = el("p", "survey-done", S["survey.thanks"]);
      done.setAttribute("role", "status");
      box.replaceWith(done);
    });
    box.append(title, el("small", null, S["survey.scale"]), stars, comment, submitButton);
    place(box);
  }

