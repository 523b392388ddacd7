// The sandbox page: renders what the local Discord holds, like Discord's client, and sends
// what the chosen person does to /sandbox/*. Updates arrive on /sandbox/events (SSE).
"use strict";

const S = {
  server: null,
  person: null,
  channel: null,
  thread: null,
  messages: new Map(), // id -> Discord message JSON
  answers: new Map(), // key -> {id, channel, user, body}: private replies to the page's interactions
  ephemeral: new Set(), // interactions whose reply is private (a later @original edit stays so)
  reacted: new Set(), // "message|emoji|person" the page added
  replyTo: null,
  flash: new Set(),
  suggestion: 0,
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "html") node.innerHTML = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// Snowflakes exceed 2^53: compare them as strings.
const byId = (a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.error || response.statusText);
  return json;
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

// --- Markdown, as much of Discord's as loopbot writes --------------------------------------

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function personName(id) {
  const p = S.server && S.server.people.find((p) => p.id === id);
  return p ? p.name : id === botId() ? "loopbot" : "user";
}

function botId() {
  return "200000000000000002";
}

function markdown(text) {
  let html = escapeHtml(text || "");
  html = html.replace(/`([^`]+)`/g, "<code>$1</code>");
  html = html.replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>");
  html = html.replace(/__(.+?)__/g, "<u>$1</u>");
  html = html.replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<em>$2</em>");
  html = html.replace(/~~(.+?)~~/g, "<s>$1</s>");
  html = html.replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener">$1</a>');
  html = html.replace(/&lt;t:(\d+)(?::([tTdDfFR]))?&gt;/g, (_, s, style) => {
    const d = new Date(Number(s) * 1000);
    return style === "R" ? relative(d) : d.toLocaleString();
  });
  html = html.replace(/&lt;@!?(\d+)&gt;/g, (_, id) => `<span class="mention">@${escapeHtml(personName(id))}</span>`);
  html = html.replace(/&lt;@&amp;(\d+)&gt;/g, "<span class=\"mention\">@role</span>");
  html = html.replace(/&lt;#(\d+)&gt;/g, (_, id) => `<span class="mention">#${escapeHtml(channelName(id))}</span>`);
  html = html.replace(/^&gt; (.*)$/gm, '<span class="quote">▎$1</span>');
  return html;
}

function relative(date) {
  const s = Math.round((date - Date.now()) / 1000);
  const a = Math.abs(s);
  const [n, unit] = a < 60 ? [a, "second"] : a < 3600 ? [Math.round(a / 60), "minute"] : a < 86400 ? [Math.round(a / 3600), "hour"] : [Math.round(a / 86400), "day"];
  const words = `${n} ${unit}${n === 1 ? "" : "s"}`;
  return s >= 0 ? `in ${words}` : `${words} ago`;
}

function channelName(id) {
  const c = S.server && S.server.channels.find((c) => c.id === id);
  return c ? c.name : "thread";
}

// --- Messages ------------------------------------------------------------------------------

function colour(n) {
  return n === undefined || n === null ? "#1e1f22" : "#" + Number(n).toString(16).padStart(6, "0");
}

function avatar(author) {
  const hue = [...(author.id || "0")].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
  const name = author.global_name || author.username || "?";
  return el("div", { class: "avatar", style: `background: hsl(${author.bot ? 235 : hue} 55% 50%)` }, name[0].toUpperCase());
}

function attachmentUrl(message, url) {
  if (!url) return null;
  if (url.startsWith("attachment://")) {
    const name = url.slice("attachment://".length);
    const file = (message.attachments || []).find((a) => a.filename === name);
    return file ? `/sandbox/attachments/${file.id}/${encodeURIComponent(file.filename)}` : null;
  }
  return /^https?:\/\//.test(url) && !url.includes(".invalid/") ? url : null;
}

function renderEmbed(message, embed) {
  const box = el("div", { class: "embed", style: `border-left-color: ${colour(embed.color)}` });
  if (embed.author && embed.author.name) box.append(el("div", { class: "embed-author" }, embed.author.name));
  if (embed.title) {
    const title = el("div", { class: "embed-title", html: markdown(embed.title) });
    box.append(embed.url ? el("a", { href: embed.url, target: "_blank", rel: "noopener" }, title) : title);
  }
  if (embed.description) box.append(el("div", { class: "embed-description", html: markdown(embed.description) }));
  if (embed.fields && embed.fields.length) {
    const fields = el("div", { class: "fields" });
    for (const f of embed.fields) {
      fields.append(el("div", { class: "field" + (f.inline ? " inline" : "") },
        el("div", { class: "field-name", html: markdown(f.name) }),
        el("div", { class: "field-value", html: markdown(f.value) })));
    }
    box.append(fields);
  }
  const image = embed.image && attachmentUrl(message, embed.image.url);
  if (image) box.append(el("img", { class: "image", src: image, alt: "" }));
  const thumbnail = embed.thumbnail && attachmentUrl(message, embed.thumbnail.url);
  if (thumbnail) box.append(el("img", { class: "image", src: thumbnail, alt: "" }));
  const footer = [embed.footer && embed.footer.text, embed.timestamp && new Date(embed.timestamp).toLocaleString()].filter(Boolean);
  if (footer.length) box.append(el("div", { class: "embed-footer" }, footer.join(" • ")));
  return box;
}

function renderComponents(message, rows, interactive) {
  const box = el("div", { class: "components" });
  for (const row of rows || []) {
    const line = el("div", { class: "row" });
    for (const c of row.components || []) {
      if (c.type === 2) {
        const label = [c.emoji && c.emoji.name, c.label].filter(Boolean).join(" ");
        if (c.style === 5) {
          line.append(el("a", { class: "button s5", href: c.url, target: "_blank", rel: "noopener" }, label + " ↗"));
        } else {
          line.append(el("button", {
            type: "button", class: `button s${c.style}`, disabled: c.disabled || !interactive, "data-custom-id": c.custom_id,
            onclick: () => press(message, c.custom_id),
          }, label));
        }
      } else {
        line.append(el("span", { class: "muted" }, "(a menu: not shown in the sandbox)"));
      }
    }
    box.append(line);
  }
  return box;
}

function emojiText(emoji) {
  return emoji.id ? `:${emoji.name}:` : emoji.name;
}

function renderReactions(message) {
  const box = el("div", { class: "reactions" });
  for (const r of message.reactions || []) {
    const emoji = r.emoji.id ? `${r.emoji.name}:${r.emoji.id}` : r.emoji.name;
    const mine = S.reacted.has(`${message.id}|${emoji}|${S.person.id}`);
    box.append(el("button", {
      type: "button", class: "reaction" + (mine ? " mine" : ""), title: mine ? "Remove your reaction" : "React",
      onclick: () => react(message, emoji, mine),
    }, `${emojiText(r.emoji)} ${r.count}`));
  }
  const picker = el("span", { class: "picker", hidden: true });
  for (const e of ["👍", "👎", "👀", "🎉", "✅", "🔥"]) {
    picker.append(el("button", { type: "button", onclick: () => react(message, e, false) }, e));
  }
  box.append(el("button", { type: "button", class: "add-reaction", title: "Add a reaction", onclick: () => { picker.hidden = !picker.hidden; } }, "☺+"), picker);
  return box;
}

function renderMessage(message, options) {
  const author = message.author || {};
  const body = el("div", { class: "body" });
  const when = message.timestamp ? new Date(message.timestamp) : null;
  body.append(el("div", { class: "head" },
    el("span", { class: "author" }, author.global_name || author.username || "someone"),
    author.bot ? el("span", { class: "tag" }, "APP") : null,
    el("span", { class: "muted" }, when ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : ""),
    message.edited_timestamp ? el("span", { class: "edited", title: new Date(message.edited_timestamp).toLocaleString() }, "(edited)") : null));
  if (message.content) body.append(el("div", { class: "content", html: markdown(message.content) }));
  for (const embed of message.embeds || []) body.append(renderEmbed(message, embed));
  const shown = new Set((message.embeds || []).flatMap((e) => [e.image && e.image.url, e.thumbnail && e.thumbnail.url]).filter(Boolean));
  for (const a of message.attachments || []) {
    if (shown.has(`attachment://${a.filename}`)) continue;
    const url = attachmentUrl(message, `attachment://${a.filename}`);
    body.append(el("div", { class: "attachment" }, (a.content_type || "").startsWith("image/") ? el("img", { src: url, alt: a.filename }) : el("a", { href: url }, a.filename)));
  }
  if (message.components && message.components.length) body.append(renderComponents(message, message.components, true));
  if (!options.ephemeral) body.append(renderReactions(message));
  if (message.thread && !options.inThread) {
    const count = [...S.messages.values()].filter((m) => m.channel_id === message.thread.id).length;
    body.append(el("button", { type: "button", class: "thread-link", onclick: () => openThread(message.thread) },
      `🧵 ${message.thread.name} — ${count} message${count === 1 ? "" : "s"} ›`));
  }
  if (options.ephemeral) {
    body.append(el("div", { class: "ephemeral-note" }, `👁 Only ${personName(options.ephemeral.user)} can see this · `,
      el("button", { type: "button", onclick: () => { S.answers.delete(options.ephemeral.key); render(); } }, "Dismiss message")));
  }
  const row = el("div", {
    class: "message" + (options.ephemeral ? " ephemeral" : "") + (S.flash.has(message.id) ? " flash" : ""),
    id: options.ephemeral ? null : `m${message.id}`, "data-id": message.id,
  });
  if (message.referenced_message || (message.message_reference && message.type === 19)) {
    const ref = message.referenced_message;
    row.append(el("div", {}), el("div", { class: "reference" }, ref ? `↪ ${ref.author.username}: ${(ref.content || (ref.embeds[0] || {}).title || "").slice(0, 80)}` : "↪ a deleted message"));
  }
  row.append(avatar(author), body);
  if (!options.ephemeral) {
    row.append(el("div", { class: "actions" },
      el("button", { type: "button", onclick: () => startReply(message) }, "Reply"),
      el("button", { type: "button", onclick: () => react(message, "👍", false) }, "👍")));
  }
  return row;
}

function renderList(container, channel, inThread) {
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  const items = [...S.messages.values()].filter((m) => m.channel_id === channel).map((m) => [m.id, renderMessage(m, { inThread })]);
  for (const [key, answer] of S.answers) {
    if (answer.channel !== channel) continue;
    const fake = Object.assign({ id: answer.id, author: { id: botId(), username: "loopbot", bot: true }, timestamp: answer.at }, answer.body);
    items.push([answer.id, renderMessage(fake, { ephemeral: { user: answer.user, key }, inThread })]);
  }
  items.sort((a, b) => byId(a[0], b[0]));
  container.replaceChildren(...items.map((i) => i[1]));
  if (!items.length) container.append(el("p", { class: "muted", style: "padding: 16px" }, "No messages yet. Try an example on the left, or type / for loopbot's commands."));
  if (atBottom || S.stick) container.scrollTop = container.scrollHeight;
}

function render() {
  if (!S.server) return;
  $("channel-name").textContent = channelName(S.channel);
  $("input").placeholder = `Message #${channelName(S.channel)} as ${S.person.name}, or / for loopbot's commands`;
  for (const b of document.querySelectorAll("#channels button")) b.classList.toggle("selected", b.dataset.id === S.channel);
  for (const b of document.querySelectorAll("#people button")) b.classList.toggle("selected", b.dataset.id === S.person.id);
  renderList($("messages"), S.channel, false);
  $("app").classList.toggle("with-thread", !!S.thread);
  $("thread").hidden = !S.thread;
  if (S.thread) {
    $("thread-name").textContent = S.thread.name;
    $("thread-input").placeholder = `Message the thread as ${S.person.name}`;
    renderList($("thread-messages"), S.thread.id, true);
  }
  S.stick = false;
}

// --- What people do ------------------------------------------------------------------------

async function act(path, body) {
  try {
    showError("");
    return await post(path, body);
  } catch (e) {
    showError(e.message);
    return null;
  }
}

function press(message, customId) {
  act("/sandbox/press", { channel: message.channel_id, user: S.person.id, message: message.id, custom_id: customId });
}

function react(message, emoji, remove) {
  const key = `${message.id}|${emoji}|${S.person.id}`;
  if (remove) S.reacted.delete(key); else S.reacted.add(key);
  act("/sandbox/react", { channel: message.channel_id, user: S.person.id, message: message.id, emoji, remove });
}

function startReply(message) {
  S.replyTo = message;
  const who = (message.author && message.author.username) || "";
  $("replying").replaceChildren(`Replying to ${who}`, el("button", { type: "button", onclick: () => { S.replyTo = null; $("replying").hidden = true; } }, "✕"));
  $("replying").hidden = false;
  $("input").focus();
}

function openThread(thread) {
  S.thread = thread;
  S.stick = true;
  render();
}

async function send(text, channel, replyTo) {
  if (text.startsWith("/")) {
    return act("/sandbox/command", { channel, user: S.person.id, line: text });
  }
  return act("/sandbox/say", { channel, user: S.person.id, content: text, reply_to: replyTo ? replyTo.id : null });
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("input");
  if (!$("suggestions").hidden && pickSuggestion()) return;
  const text = input.value.trim();
  if (!text) return;
  const sent = await send(text, S.channel, S.replyTo);
  if (sent) {
    input.value = "";
    S.replyTo = null;
    $("replying").hidden = true;
    S.stick = true;
    suggest();
  }
});

$("thread-composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("thread-input");
  const text = input.value.trim();
  if (!text || !S.thread) return;
  if (await send(text, S.thread.id, null)) {
    input.value = "";
    S.stick = true;
  }
});
$("thread-close").addEventListener("click", () => { S.thread = null; render(); });

// --- Slash command suggestions -----------------------------------------------------------

function suggestions(text) {
  if (!text.startsWith("/")) return [];
  const commands = S.server.commands || [];
  const [typed, ...rest] = text.slice(1).split(" ");
  const command = commands.find((c) => c.name === typed);
  if (!command || rest.length === 0) {
    return commands.filter((c) => c.name.startsWith(typed)).map((c) => ({
      name: `/${c.name}`, desc: c.description, fill: `/${c.name} `,
    }));
  }
  const last = rest[rest.length - 1];
  const used = new Set(rest.map((w) => w.split(":")[0]));
  const option = (command.options || []).find((o) => last.startsWith(o.name + ":"));
  if (option && option.choices && option.choices.length) {
    const value = last.slice(option.name.length + 1);
    const head = text.slice(0, text.length - value.length);
    return option.choices.filter((c) => c.name.startsWith(value)).map((c) => ({ name: c.name, desc: `${option.name}`, fill: head + c.name + " " }));
  }
  if (last.includes(":")) return [];
  const head = text.slice(0, text.length - last.length);
  return (command.options || []).filter((o) => !used.has(o.name) || o.name === last).filter((o) => o.name.startsWith(last)).map((o) => ({
    name: `${o.name}:`, desc: (o.required ? "required · " : "") + o.description, fill: head + o.name + ":",
  }));
}

function suggest() {
  const list = $("suggestions");
  const found = S.server ? suggestions($("input").value) : [];
  S.suggestion = Math.min(S.suggestion, Math.max(found.length - 1, 0));
  list.replaceChildren(...found.map((s, i) => el("li", {
    class: i === S.suggestion ? "active" : null, "data-fill": s.fill,
    onmousedown: (e) => { e.preventDefault(); fill(s.fill); },
  }, el("span", { class: "name" }, s.name), el("span", { class: "desc" }, s.desc || ""))));
  list.hidden = found.length === 0;
}

function fill(text) {
  $("input").value = text;
  S.suggestion = 0;
  suggest();
  $("input").focus();
}

// Enter on a suggestion fills it unless the line is already complete.
function pickSuggestion() {
  const active = document.querySelector("#suggestions li.active");
  if (!active || active.dataset.fill.trim() === $("input").value.trim()) return false;
  fill(active.dataset.fill);
  return true;
}

$("input").addEventListener("input", () => { S.suggestion = 0; suggest(); });
$("input").addEventListener("keydown", (e) => {
  const count = $("suggestions").children.length;
  if ($("suggestions").hidden || !count) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    S.suggestion = (S.suggestion + (e.key === "ArrowDown" ? 1 : count - 1)) % count;
    suggest();
  } else if (e.key === "Tab") {
    e.preventDefault();
    pickSuggestion();
  } else if (e.key === "Escape") {
    $("suggestions").hidden = true;
  }
});

// --- Forms (modals) ------------------------------------------------------------------------

function openModal(answer, data) {
  const dialog = $("modal");
  $("modal-title").textContent = data.title || "Form";
  const fields = $("modal-fields");
  fields.replaceChildren();
  for (const row of data.components || []) {
    for (const input of row.components || []) {
      const id = `field-${input.custom_id}`;
      const attrs = {
        id, name: input.custom_id, placeholder: input.placeholder, required: !!input.required,
        minlength: input.min_length, maxlength: input.max_length,
      };
      const control = input.style === 2 ? el("textarea", attrs, input.value || "") : el("input", Object.assign(attrs, { value: input.value || "" }));
      fields.append(el("label", { for: id }, input.label || input.custom_id), control);
    }
  }
  dialog.dataset.interaction = answer.interaction;
  dialog.dataset.customId = data.custom_id;
  dialog.dataset.user = answer.user;
  dialog.showModal();
}

$("modal-cancel").addEventListener("click", () => $("modal").close());
$("modal-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const dialog = $("modal");
  if (!$("modal-form").reportValidity()) return;
  const fields = [...$("modal-fields").querySelectorAll("input, textarea")].map((f) => [f.name, f.value]);
  dialog.close();
  await act("/sandbox/submit", { interaction: dialog.dataset.interaction, user: dialog.dataset.user, custom_id: dialog.dataset.customId, fields });
});

// --- Live updates --------------------------------------------------------------------------

function onAnswer(a) {
  const r = a.response;
  const at = new Date().toISOString();
  const keep = (key, body) => S.answers.set(key, { id: a.interaction, channel: a.channel, user: a.user, body, at });
  if (r._via === "callback") {
    const data = r.data || {};
    if (r.type === 9) {
      if (a.user === S.person.id) openModal(a, data);
    } else if ((r.type === 4 || r.type === 5) && (data.flags & 64)) {
      S.ephemeral.add(a.interaction);
      keep(a.interaction, r.type === 5 ? { content: "loopbot is thinking…" } : data);
    }
  } else if (r._via === "edit_original" && S.ephemeral.has(a.interaction)) {
    const before = (S.answers.get(a.interaction) || {}).body || {};
    keep(a.interaction, Object.assign({}, before.content === "loopbot is thinking…" ? {} : before, r));
  } else if (r._via === "followup" && (r.flags & 64)) {
    const key = `${a.interaction}:${a.n}`;
    S.answers.set(key, { id: a.interaction + "." + a.n, channel: a.channel, user: a.user, body: r, at });
  }
}

function onUpdate(update) {
  S.flash.clear();
  for (const m of update.messages) {
    if (S.messages.has(m.id)) S.flash.add(m.id);
    S.messages.set(m.id, m);
    if (S.thread && m.thread && m.thread.id === S.thread.id) S.thread = m.thread;
  }
  for (const id of update.deleted) S.messages.delete(id);
  for (const a of update.answers) onAnswer(a);
  render();
}

function connect() {
  const source = new EventSource("/sandbox/events");
  source.addEventListener("open", () => { $("live").textContent = "● live"; });
  source.addEventListener("update", (e) => onUpdate(JSON.parse(e.data)));
  source.addEventListener("error", () => { $("live").textContent = "reconnecting…"; });
}

// --- Start ---------------------------------------------------------------------------------

async function loadServer() {
  const response = await fetch("/sandbox/server");
  S.server = await response.json();
  // The bot registers its commands as it connects: ask again until they are there.
  if (!S.server.commands.length) setTimeout(loadServer, 500);
}

async function start() {
  await loadServer();
  S.person = S.server.people[0];
  S.channel = S.server.channels[0].id;
  $("server-name").textContent = S.server.name;
  $("channels").replaceChildren(...S.server.channels.map((c) => el("li", {}, el("button", {
    type: "button", "data-id": c.id, onclick: () => { S.channel = c.id; S.stick = true; render(); },
  }, c.name))));
  $("people").replaceChildren(...S.server.people.map((p) => el("li", {}, el("button", {
    type: "button", "data-id": p.id, onclick: () => { S.person = p; render(); },
  }, p.name, el("span", { class: "role" }, p.role)))));
  $("examples").replaceChildren(...S.server.examples.map((x) => el("li", {}, el("button", {
    type: "button", "data-example": x.name, title: x.what,
    onclick: async () => {
      const result = await act(`/sandbox/examples/${x.name}`, {});
      if (!result) return;
      S.channel = result.channel;
      S.stick = true;
      const first = result.sent[0] || {};
      $("example-result").textContent = `${x.label}: ${first.sent}` + (first.status ? ` → ${first.status}` : "");
      render();
    },
  }, x.label))));
  render();
  connect();
}

start();
