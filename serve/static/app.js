// notes-rag chat page: streams POST /chat as server-sent events, keeping the conversation (its earlier turns go
// with each question as `history`) and the scope (`filters`); note text is only ever set as textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const conversation = $("conversation");
const form = $("ask-form");
const question = $("question");
const send = $("send");
const panel = $("passage");
const info = $("info");
const MAX_TURNS = 20;          // earlier turns sent with a question (the server takes up to 50)
const MAX_ANSWER_CHARS = 8000; // the server's limit per earlier answer
const MAX_BODY_BYTES = 48000;  // oldest turns are left out past this (the server refuses bodies over 64 kB)
const utf8 = new TextEncoder();
let lastOpener = null;
let history = [];              // [{question, answer}] of this conversation, oldest first
const hintHtml = $("hint").cloneNode(true);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function lines(c) {
  return c.start_line === c.end_line ? `line ${c.start_line}` : `lines ${c.start_line}–${c.end_line}`;
}

// Servers that need a key for reads (beyond loopback, or RAG_AUTH=all) answer 401: ask for the key once per
// tab and send it as a Bearer token; it stays in sessionStorage, never in the page or the URL.
async function authFetch(url, options = {}) {
  const withKey = () => {
    const key = sessionStorage.getItem("rag-api-key");
    const headers = { ...(options.headers || {}), ...(key ? { Authorization: `Bearer ${key}` } : {}) };
    return fetch(url, { ...options, headers });
  };
  let res = await withKey();
  if (res.status === 401) {
    const key = window.prompt("This notes server needs its API key (RAG_API_KEY):");
    if (key) {
      sessionStorage.setItem("rag-api-key", key.trim());
      res = await withKey();
    }
  }
  return res;
}

async function loadStatus() {
  try {
    const res = await fetch("/health");
    const body = await res.json();
    const index = body.index || {};
    $("status").textContent = res.ok
      ? `${index.notes ?? "?"} notes · ${index.chunks ?? "?"} passages · ${body.backend} backend`
      : `not ready: ${body.reason || res.status}`;
  } catch (err) {
    $("status").textContent = "server unreachable";
  }
}

// Parse a growing SSE buffer; returns the unconsumed tail.
function parseEvents(buffer, onEvent) {
  let cut;
  while ((cut = buffer.indexOf("\n\n")) >= 0) {
    const block = buffer.slice(0, cut);
    buffer = buffer.slice(cut + 2);
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) onEvent(name, JSON.parse(data.join("\n")));
  }
  return buffer;
}

function citeButton(citation) {
  const button = el("button", "cite", `[${citation.n}]`);
  button.type = "button";
  button.dataset.n = String(citation.n);
  button.setAttribute("aria-label", `Source ${citation.n}: ${citation.source}, ${lines(citation)}`);
  button.addEventListener("click", () => openPassage(citation, button));
  return button;
}

// Answer text with [n] markers turned into buttons for the matching citations.
function renderAnswer(target, text, citations) {
  const byN = new Map(citations.map((c) => [c.n, c]));
  target.replaceChildren();
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const citation = byN.get(Number(match[1]));
    if (!citation) continue;
    target.append(text.slice(last, match.index), citeButton(citation));
    last = match.index + match[0].length;
  }
  target.append(text.slice(last));
}

function renderSources(bubble, citations) {
  if (!citations.length) return;
  const list = el("ol", "sources");
  list.setAttribute("aria-label", "Sources");
  for (const c of citations) {
    const item = el("li");
    const button = citeButton(c);
    button.classList.add("source-link");
    button.textContent = `[${c.n}] ${c.source}`;
    item.append(button, el("span", "source-meta", ` · ${c.heading || "(no heading)"} · ${lines(c)}`));
    list.append(item);
  }
  bubble.append(list);
}

function renderAbstained(bubble, answer) {
  bubble.classList.add("abstained");
  const badge = el("p", "badge", "Not in your notes");
  badge.setAttribute("role", "status");
  bubble.prepend(badge);
  const near = [...new Set((answer.contexts || []).map((c) => c.source))].slice(0, 3);
  if (near.length && !near.every((source) => answer.answer.includes(source))) bubble.append(el("p", "near", `Closest notes: ${near.join(", ")}`));
  const link = el("button", "gaps-link", "See what your notes are missing");
  link.type = "button";
  link.addEventListener("click", () => showGaps(link));
  bubble.append(link);
}

function renderUnderstood(bubble, answer, asked) {
  const standalone = answer.standalone_question;
  if (!standalone || standalone === asked) return;
  bubble.prepend(el("p", "understood", `Understood as: ${standalone}`));
}

// ---- scope (filters) ----------------------------------------------------------------------------------
function currentFilters() {
  const folder = $("scope-folder").value.trim();
  const tags = $("scope-tags").value.split(/[,\s]+/).map((t) => t.trim()).filter(Boolean);
  const file = $("scope-file").value.trim();
  const filters = {};
  if (folder) filters.folder = folder;
  if (tags.length) filters.tags = tags;
  if (file) filters.file = file;
  return Object.keys(filters).length ? filters : null;
}

function describeScope() {
  const f = currentFilters();
  if (!f) return "all notes";
  const parts = [];
  if (f.folder) parts.push(`folder ${f.folder}`);
  if (f.tags) parts.push(f.tags.map((t) => `#${t.replace(/^#/, "")}`).join(" "));
  if (f.file) parts.push(`files ${f.file}`);
  return parts.join(" · ");
}

for (const id of ["scope-folder", "scope-tags", "scope-file"]) {
  $(id).addEventListener("input", () => { $("scope-summary").textContent = describeScope(); });
}

// ---- side panel: your notes (GET /status) and what they are missing (GET /gaps) --------------------------
function openInfo(title, opener) {
  panel.hidden = true;
  lastOpener = opener;
  for (const id of ["show-status", "show-gaps"]) $(id).setAttribute("aria-expanded", String($(id) === opener));
  $("info-title").textContent = title;
  $("info-body").replaceChildren(el("p", "muted", "loading…"));
  info.hidden = false;
  $("info-title").focus();
  return $("info-body");
}

function closeInfo() {
  info.hidden = true;
  for (const id of ["show-status", "show-gaps"]) $(id).setAttribute("aria-expanded", "false");
  if (lastOpener && document.body.contains(lastOpener)) lastOpener.focus();
  else question.focus();
}

function fileList(title, files, describe) {
  const box = el("div");
  box.append(el("h3", "", `${title} (${files.length})`));
  const list = el("ul");
  for (const f of files) {
    const item = el("li");
    item.append(el("span", `file-state ${f.state}`, f.source), el("span", "muted", describe(f)));
    list.append(item);
  }
  box.append(list);
  return box;
}

async function showStatus(opener) {
  const body = openInfo("Your notes", opener || $("show-status"));
  try {
    const s = await fetchJson("/status");
    const last = s.last_ingest;
    const lines = [
      `${s.counts.indexed} indexed · ${s.counts.skipped} skipped · ${s.counts.failed} failed · ${s.chunks} passages`,
      ...s.embedders.map((e) => `embedder ${e.name}: ${e.model_id}`),
      `answers: ${s.model.backend || "?"}${s.model.llm ? ` (${s.model.llm})` : ""}`,
      last ? `last ingest ${last.finished}: ${last.added} added, ${last.updated} updated, ${last.removed} removed` : "no ingest recorded",
    ];
    body.replaceChildren(...lines.map((line) => el("p", "status-line", line)));
    const by = (state) => s.files.filter((f) => f.state === state);
    if (by("failed").length) body.append(fileList("Failed", by("failed"), (f) => ` — ${f.error}`));
    if (by("skipped").length) body.append(fileList("Skipped", by("skipped"), (f) => ` — ${f.reason}`));
    body.append(fileList("Indexed", by("indexed"), (f) => (f.tags.length ? ` #${f.tags.join(" #")}` : "")));
  } catch (err) {
    body.replaceChildren(el("p", "error-text", `Could not load the status: ${err.message}`));
  }
}

async function showGaps(opener) {
  const body = openInfo("Missing from your notes", opener || $("show-gaps"));
  try {
    const g = await fetchJson("/gaps");
    if (!g.refused) {
      body.replaceChildren(el("p", "muted", "No question has been refused yet."));
      return;
    }
    body.replaceChildren(el("p", "", `${g.refused} questions your notes could not answer, by topic: what to write next.`));
    for (const topic of g.topics) {
      const box = el("section", "gap-topic");
      box.append(el("h3", "", `${topic.topic} (${topic.count})`));
      if (topic.closest.length) box.append(el("p", "muted", `closest notes: ${topic.closest.join(", ")}`));
      const list = el("ul");
      for (const q of topic.questions) list.append(el("li", "", q.standalone_question || q.question));
      box.append(list);
      body.append(box);
    }
  } catch (err) {
    body.replaceChildren(el("p", "error-text", `Could not load the gaps: ${err.message}`));
  }
}

function newChat() {
  history = [];
  conversation.replaceChildren(hintHtml.cloneNode(true));
  panel.hidden = true;
  question.value = "";
  question.focus();
}

function highlight(target, text, quote) {
  target.replaceChildren();
  const at = quote ? text.indexOf(quote) : -1;
  if (at < 0) {
    target.textContent = text;
    return;
  }
  target.append(text.slice(0, at), el("mark", "", quote), text.slice(at + quote.length));
}

async function openPassage(citation, opener) {
  info.hidden = true;
  lastOpener = opener;
  $("passage-file").textContent = citation.source;
  $("passage-heading").textContent = citation.heading || "(no heading)";
  $("passage-lines").textContent = lines(citation);
  $("passage-title").textContent = `Source [${citation.n}]`;
  highlight($("passage-text"), citation.quote, citation.quote);
  panel.hidden = false;
  $("passage-title").focus();
  try {
    const res = await authFetch(`/sources/${encodeURIComponent(citation.chunk_id)}`);
    if (!res.ok) return;
    const passage = await res.json();
    highlight($("passage-text"), passage.original || passage.text, citation.quote);
  } catch (err) {
    /* the quote from the citation stays visible */
  }
}

function closePassage() {
  panel.hidden = true;
  if (lastOpener && document.body.contains(lastOpener)) lastOpener.focus();
  else question.focus();
}

async function fetchJson(url) {
  const res = await authFetch(url);
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

async function errorText(res) {
  try {
    const body = await res.json();
    const message = body.error?.message || `HTTP ${res.status}`;
    const retry = res.headers.get("Retry-After");
    return retry ? `${message} (retry in ${retry} s)` : message;
  } catch (err) {
    return `HTTP ${res.status}`;
  }
}

async function ask(text) {
  $("hint")?.remove();
  conversation.append(el("p", "msg user", text));
  const bubble = el("article", "msg bot streaming");
  bubble.setAttribute("aria-label", "Answer");
  const body = el("p", "answer");
  bubble.append(body);
  conversation.append(bubble);
  bubble.scrollIntoView({ block: "end" });
  conversation.setAttribute("aria-busy", "true");
  try {
    const payload = { question: text, stream: true };
    const filters = currentFilters();
    if (filters) payload.filters = filters;
    let turns = history.slice(-MAX_TURNS);
    while (turns.length && utf8.encode(JSON.stringify({ ...payload, history: turns })).length > MAX_BODY_BYTES) {
      turns = turns.slice(1);
    }
    if (turns.length) payload.history = turns;
    const res = await authFetch("/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(payload),
    });
    if (!res.ok) throw new Error(await errorText(res));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseEvents(buffer + decoder.decode(value, { stream: true }), (name, data) => {
        if (name === "token") body.append(data.text);
        else if (name === "done") {
          renderAnswer(body, data.answer, data.citations);
          if (data.abstained) renderAbstained(bubble, data);
          else renderSources(bubble, data.citations);
          renderUnderstood(bubble, data, text);
          history.push({ question: text, answer: data.abstained ? "" : data.answer.slice(0, MAX_ANSWER_CHARS) });
          bubble.dataset.done = "true";
        } else if (name === "error") throw new Error(data.error?.message || "the answer failed");
      });
      bubble.scrollIntoView({ block: "end" });
    }
    if (!bubble.dataset.done) throw new Error("the answer stream ended early");
  } catch (err) {
    bubble.classList.add("error");
    bubble.append(el("p", "error-text", `Error: ${err.message}`));
  } finally {
    bubble.classList.remove("streaming");
    conversation.setAttribute("aria-busy", "false");
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = question.value.trim();
  if (!text || send.disabled) return;
  question.value = "";
  send.disabled = true;
  try {
    await ask(text);
  } finally {
    send.disabled = false;
    question.focus();
  }
});

question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

$("passage-close").addEventListener("click", closePassage);
$("info-close").addEventListener("click", closeInfo);
$("new-chat").addEventListener("click", newChat);
$("show-status").addEventListener("click", () => (info.hidden || $("show-status").getAttribute("aria-expanded") !== "true" ? showStatus() : closeInfo()));
$("show-gaps").addEventListener("click", () => (info.hidden || $("show-gaps").getAttribute("aria-expanded") !== "true" ? showGaps() : closeInfo()));
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (!panel.hidden) closePassage();
  else if (!info.hidden) closeInfo();
});

loadStatus();
question.focus();
