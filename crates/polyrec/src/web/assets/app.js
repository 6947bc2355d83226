// The polyrec page: plain JavaScript over the JSON API of `polyrec serve`.
//
// Every string that comes from the data, the model or the person typing reaches the page
// as a text node (textContent, createTextNode), never as markup.
"use strict";

// ---- errors: every failure is shown, none is swallowed -------------------------------

function showError(message) {
  const box = document.getElementById("errors");
  const list = document.getElementById("error-list");
  if (!box || !list) return;
  list.appendChild(el("li", {}, String(message)));
  box.hidden = false;
}

window.onerror = function (message, source, line, column) {
  const where = source ? ` (${source}:${line}:${column})` : "";
  showError(`script error: ${message}${where}`);
  return false;
};
window.addEventListener("unhandledrejection", (e) => {
  const r = e.reason;
  showError(r && r.message ? r.message : `unhandled rejection: ${r}`);
});

// ---- small helpers -----------------------------------------------------------------

/** An element with attributes; string children become text nodes. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function fmt(v, digits) {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  return Number.isInteger(v) && digits === undefined ? String(v) : v.toFixed(digits === undefined ? 3 : digits);
}

/** Calls the API; a non-2xx answer or a network failure throws an Error naming the field. */
async function api(method, path, body) {
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new Error(`${method} ${path}: the service did not answer (${e.message})`);
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    if (resp.ok) throw new Error(`${method} ${path}: the answer is not JSON`);
  }
  if (!resp.ok) {
    const msg = data && data.error ? data.error : text || resp.statusText;
    const err = new Error(`${method} ${path}: ${resp.status} ${msg}`);
    err.field = data && data.field;
    throw err;
  }
  return data;
}

/** Lower-case words of at least three letters or digits. */
function words(text) {
  return (text || "").toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length >= 3);
}

/** `text` as nodes, with the words in `marked` (a Set) wrapped in <mark>. */
function marked(text, markedWords) {
  const out = [];
  for (const part of String(text).split(/([\p{L}\p{N}]+)/u)) {
    if (!part) continue;
    out.push(markedWords.has(part.toLowerCase()) ? el("mark", {}, part) : document.createTextNode(part));
  }
  return out;
}

// ---- state -------------------------------------------------------------------------

const state = {
  model: null, // GET /model
  user: null, // the picked user's id
  searchSeq: 0,
};

// ---- the model: tasks, scenarios, metrics, plots, config ------------------------------

async function loadModel() {
  const m = await api("GET", "/model");
  state.model = m;
  document.getElementById("service-info").textContent = `${m.model} on ${m.dataset}`;
  const scenario = document.getElementById("scenario");
  for (const s of m.scenarios || []) scenario.appendChild(el("option", { value: s }, s));
  const weights = document.getElementById("weights");
  clear(weights);
  for (const t of (m.tasks || []).filter((t) => !t.user_level)) {
    const id = `weight-${t.name}`;
    const input = el("input", { id, type: "range", min: "0", max: "1", step: "0.05", value: "1", dataset: { task: t.name } });
    const out = el("output", { for: id }, "1.00");
    input.addEventListener("input", () => (out.textContent = Number(input.value).toFixed(2)));
    weights.appendChild(el("div", { class: "slider" }, el("label", { for: id }, `${t.name} weight`), input, out));
  }
  // Result types beyond items (friends, topics) where the service loaded their models.
  const types = document.getElementById("types");
  clear(types);
  const available = m.types || ["items"];
  for (const t of available) {
    const box = el("input", { type: "checkbox", name: "types", value: t, checked: t === "items" });
    types.appendChild(el("label", {}, box, ` ${t}`));
  }
  types.hidden = available.length < 2;
  renderModel(m);
}

function metricOrder(a, b) {
  if (a === "count") return 1;
  if (b === "count") return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function renderModel(m) {
  document.getElementById("model-info").textContent =
    `${m.model} trained on ${m.dataset}; scenarios: ${(m.scenarios || []).join(", ")}; tasks: ${(m.tasks || [])
      .map((t) => `${t.name} (${t.kind}${t.user_level ? ", user-level" : ""})`)
      .join(", ")}`;
  document.getElementById("model-note").textContent = m.metrics_error ? `No metrics: ${m.metrics_error}` : "";
  const metrics = document.getElementById("metrics");
  clear(metrics);
  const groups = m.metrics && typeof m.metrics === "object" ? m.metrics : {};
  const scenarios = Object.keys(groups).sort((a, b) => (a === "overall" ? -1 : b === "overall" ? 1 : a < b ? -1 : 1));
  const tasks = [];
  for (const t of m.tasks || []) tasks.push(t.name);
  for (const s of scenarios) for (const t of Object.keys(groups[s] || {})) if (!tasks.includes(t)) tasks.push(t);
  for (const task of tasks) {
    const names = new Set();
    for (const s of scenarios) for (const k of Object.keys((groups[s] || {})[task] || {})) names.add(k);
    if (names.size === 0) continue;
    const cols = [...names].sort(metricOrder);
    const head = el("tr", {}, el("th", { scope: "col" }, "scenario"), cols.map((c) => el("th", { scope: "col" }, c)));
    const rows = scenarios.map((s) => {
      const vals = (groups[s] || {})[task] || {};
      return el(
        "tr",
        { dataset: { scenario: s } },
        el("th", { scope: "row" }, s),
        cols.map((c) => el("td", {}, c === "count" ? fmt(vals[c]) : fmt(vals[c], 4)))
      );
    });
    metrics.appendChild(
      el("div", { class: "table-wrap" },
        el("table", { class: "metrics-table", dataset: { task } },
          el("caption", {}, task),
          el("thead", {}, head),
          el("tbody", {}, rows)))
    );
  }
  const plots = document.getElementById("plots");
  clear(plots);
  for (const name of m.plots || []) {
    plots.appendChild(
      el("figure", {},
        el("img", { src: `/model/plots/${encodeURIComponent(name)}`, alt: `plot ${name}`, loading: "lazy" }),
        el("figcaption", {}, name))
    );
  }
  if (!(m.plots || []).length) plots.appendChild(el("p", { class: "muted" }, "No plots in the model directory."));
  document.getElementById("config").textContent = m.config || "(no configuration)";
}

// ---- users -----------------------------------------------------------------------

async function searchUsers(prefix) {
  const seq = ++state.searchSeq;
  const data = await api("GET", `/users?prefix=${encodeURIComponent(prefix)}&limit=12`);
  if (seq !== state.searchSeq) return; // a newer search answered first
  const list = document.getElementById("user-suggestions");
  clear(list);
  for (const id of data.users) {
    const b = el("button", { type: "button", class: "suggestion", dataset: { user: id } }, id);
    b.addEventListener("click", () => pickUser(id).catch((e) => showError(e.message)));
    list.appendChild(el("li", {}, b));
  }
  if (data.more) list.appendChild(el("li", { class: "muted" }, "…"));
  if (!data.users.length) list.appendChild(el("li", { class: "muted" }, "no user starts with that"));
}

async function pickUser(id) {
  const search = document.getElementById("user-search");
  search.value = id;
  search.removeAttribute("aria-invalid");
  clear(document.getElementById("user-suggestions"));
  const u = await api("GET", `/users/${encodeURIComponent(id)}?limit=10`);
  state.user = u.user;
  const card = document.getElementById("user-card");
  clear(card);
  card.appendChild(el("h3", {}, `User ${u.user}`));
  const attrs = el("dl", { class: "attributes" });
  for (const a of u.attributes) attrs.append(el("dt", {}, a.name), el("dd", {}, a.value === null ? "–" : String(a.value)));
  card.appendChild(attrs);
  card.appendChild(el("p", { class: "muted" }, `${u.interactions} interactions; the latest:`));
  const hist = el("ol", { class: "history" });
  const userLevel = new Set(((state.model && state.model.tasks) || []).filter((t) => t.user_level).map((t) => t.name));
  for (const h of u.history) {
    // Labels of the item-level tasks (a user-level label such as a gender repeats on every row).
    const labels = Object.entries(h.labels || {})
      .filter(([k]) => !userLevel.has(k))
      .map(([k, v]) => `${k} ${fmt(v, Number.isInteger(v) ? undefined : 2)}`);
    hist.appendChild(
      el("li", { dataset: { item: h.item } },
        el("span", { class: "name" }, h.name),
        el("span", { class: "muted" }, ` ${[h.scenario, ...labels].filter(Boolean).join(" · ")}`))
    );
  }
  card.appendChild(hist);
}

// ---- recommending ----------------------------------------------------------------

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function buildRequest() {
  const req = {};
  if (mode() === "profile") {
    req.profile = document.getElementById("profile").value;
  } else {
    const typed = document.getElementById("user-search").value.trim();
    req.user = typed || state.user || "";
  }
  const query = document.getElementById("query").value.trim();
  if (query) req.query = query;
  const scenario = document.getElementById("scenario").value;
  if (scenario) req.scenario = scenario;
  req.k = Number(document.getElementById("k").value);
  req.weights = {};
  for (const w of document.querySelectorAll("#weights input[data-task]")) req.weights[w.dataset.task] = Number(w.value);
  req.diversity = Number(document.getElementById("diversity").value);
  const types = [...document.querySelectorAll('#types input[name="types"]')];
  if (types.length > 1) req.types = types.filter((t) => t.checked).map((t) => t.value);
  return req;
}

/** The knowledge-graph path as a chain: item → entity ← item, relations on the links. */
function pathChain(path) {
  const chain = el("ol", { class: "path" });
  const node = (label, kind) => chain.appendChild(el("li", { class: `step ${kind}` }, label));
  const link = (label, arrow) => chain.appendChild(el("li", { class: "link", title: label }, `${arrow} ${label} ${arrow}`));
  if (path.length === 4) {
    node(path[0], "item");
    link(path[1], "→");
    node(path[2], "entity");
    link(path[1], "←");
    node(path[3], "item");
  } else if (path.length === 3) {
    node(path[0], "item");
    link(path[1], "—");
    node(path[2], "item");
  } else {
    path.forEach((p, i) => node(p, i % 2 ? "entity" : "item"));
  }
  return chain;
}

/** Text evidence with the request's words marked where the reason quotes them. */
function evidence(text, queryWords) {
  const span = el("span", { class: "evidence" });
  // The service quotes the request words an item's text contains: mark those.
  String(text).split('"').forEach((part, i) => {
    if (i > 0) span.appendChild(document.createTextNode('"'));
    if (i % 2 === 1) span.append(...marked(part, queryWords));
    else span.appendChild(document.createTextNode(part));
  });
  return span;
}

/** Friends or topics: a name, a score and the reasons as sentences. */
function renderOthers(block, list, entries, name) {
  clear(list);
  block.hidden = !Array.isArray(entries);
  for (const [i, e] of (entries || []).entries()) {
    const reasons = el("ul", { class: "reasons" });
    for (const r of e.reasons || []) {
      const kind = typeof r === "string" ? "topic" : r.kind;
      const text = typeof r === "string" ? r : r.text;
      reasons.appendChild(el("li", { class: `reason ${kind}` }, el("span", { class: "kind" }, kind), el("span", { class: "evidence" }, text)));
    }
    list.appendChild(
      el("li", { class: "result" },
        el("div", { class: "result-head" },
          el("span", { class: "rank" }, String(i + 1)),
          el("span", { class: "name" }, name(e)),
          el("span", { class: "score", title: "score" }, fmt(e.score))),
        reasons)
    );
  }
}

function renderResults(resp, req, ms) {
  const list = document.getElementById("results");
  clear(list);
  const queryWords = new Set(words(req.query));
  const who = resp.user ? `user ${resp.user}` : "a new user";
  const parts = [`${resp.items.length} items`];
  if (Array.isArray(resp.friends)) parts.push(`${resp.friends.length} people`);
  if (Array.isArray(resp.topics)) parts.push(`${resp.topics.length} topics`);
  document.getElementById("results-status").textContent =
    `${parts.join(", ")} for ${who} in scenario ${resp.scenario} (${ms} ms)`;
  renderOthers(document.getElementById("friends-block"), document.getElementById("friends"), resp.friends, (f) => `user ${f.user}`);
  renderOthers(document.getElementById("topics-block"), document.getElementById("topics"), resp.topics, (t) => t.topic);
  resp.items.forEach((it, i) => {
    const scores = Object.entries(it.scores).map(([t, v]) => el("span", { class: "chip", title: `${t} prediction` }, `${t} ${fmt(v)}`));
    if (typeof it.relevance === "number") scores.push(el("span", { class: "chip text", title: "text relevance" }, `text ${fmt(it.relevance)}`));
    const reasons = el("ul", { class: "reasons" });
    for (const r of it.reasons) {
      const body = r.kind === "graph" && Array.isArray(r.path) ? pathChain(r.path) : evidence(r.text, queryWords);
      reasons.appendChild(el("li", { class: `reason ${r.kind}`, title: r.text }, el("span", { class: "kind" }, r.kind), body));
    }
    list.appendChild(
      el("li", { class: "result", dataset: { item: it.item } },
        el("div", { class: "result-head" },
          el("span", { class: "rank" }, String(i + 1)),
          el("span", { class: "name" }, ...marked(it.name, queryWords)),
          el("span", { class: "score", title: "blended score" }, fmt(it.score))),
        el("div", { class: "scores" }, el("span", { class: "muted" }, `#${it.item}`), scores),
        reasons)
    );
  });
}

async function recommend(event) {
  event.preventDefault();
  const button = document.getElementById("submit");
  const req = buildRequest();
  for (const f of document.querySelectorAll("[aria-invalid]")) f.removeAttribute("aria-invalid");
  button.disabled = true;
  document.getElementById("results-status").textContent = "Asking…";
  const t0 = performance.now();
  try {
    const resp = await api("POST", "/recommend", req);
    renderResults(resp, req, Math.round(performance.now() - t0));
  } catch (e) {
    document.getElementById("results-status").textContent = "The request failed.";
    const input = { user: "user-search", profile: "profile", query: "query", k: "k", scenario: "scenario", diversity: "diversity" }[e.field];
    if (input) document.getElementById(input).setAttribute("aria-invalid", "true");
    showError(e.message);
  } finally {
    button.disabled = false;
  }
}

// ---- views -------------------------------------------------------------------------

function showView() {
  const model = location.hash === "#model";
  document.getElementById("view-recommend").hidden = model;
  document.getElementById("view-model").hidden = !model;
  document.getElementById("tab-recommend").setAttribute("aria-current", model ? "false" : "page");
  document.getElementById("tab-model").setAttribute("aria-current", model ? "page" : "false");
}

function start() {
  document.getElementById("errors-clear").addEventListener("click", () => {
    clear(document.getElementById("error-list"));
    document.getElementById("errors").hidden = true;
  });
  window.addEventListener("hashchange", showView);
  showView();
  for (const r of document.querySelectorAll('input[name="mode"]')) {
    r.addEventListener("change", () => {
      document.getElementById("user-mode").hidden = mode() !== "user";
      document.getElementById("profile-mode").hidden = mode() !== "profile";
    });
  }
  const search = document.getElementById("user-search");
  search.addEventListener("input", () => {
    state.user = null;
    clear(document.getElementById("user-card"));
    searchUsers(search.value.trim()).catch((e) => showError(e.message));
  });
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && search.value.trim()) {
      e.preventDefault();
      pickUser(search.value.trim()).catch((err) => showError(err.message));
    }
  });
  const diversity = document.getElementById("diversity");
  diversity.addEventListener("input", () => (document.getElementById("diversity-value").textContent = Number(diversity.value).toFixed(2)));
  document.getElementById("request-form").addEventListener("submit", recommend);
  loadModel().catch((e) => showError(e.message));
}

document.addEventListener("DOMContentLoaded", start);
