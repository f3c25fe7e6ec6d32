// notes-rag chat page: streams POST /chat as server-sent events; note text is only ever set as textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const conversation = $("conversation");
const form = $("ask-form");
const question = $("question");
const send = $("send");
const panel = $("passage");
let lastOpener = null;

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
    const res = await authFetch("/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ question: text, stream: true }),
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
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !panel.hidden) closePassage();
});

loadStatus();
question.focus();
