// skuflow's ops console: plain DOM, no build step. Every figure comes from the API with the
// key typed in the header (kept in this browser's localStorage); text is never parsed as HTML.
"use strict";

const page = document.getElementById("page");
const keyInput = document.getElementById("key");
keyInput.value = localStorage.getItem("skuflow.key") || "";
keyInput.addEventListener("change", () => {
  if (keyInput.value === (localStorage.getItem("skuflow.key") || "")) return; // a blur after the change
  localStorage.setItem("skuflow.key", keyInput.value);
  route();
});

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const seg = (s) => encodeURIComponent(s);
const show = (...parts) => page.replaceChildren(...parts.flat().filter((p) => p !== null && p !== undefined));

async function api(path) {
  const headers = keyInput.value ? { Authorization: `Bearer ${keyInput.value}` } : {};
  const r = await fetch(path, { headers });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(body.message || r.statusText), { status: r.status });
  return body;
}

function table(columns, rows, attrs) {
  return h("table", attrs || {},
    h("thead", {}, h("tr", {}, columns.map(([title, , cls]) => h("th", { class: cls || "" }, title)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, cls]) => h("td", { class: cls || "" }, cell(row)))))));
}

function spark(values, width = 160, height = 28) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  if (values.length > 1) {
    const max = Math.max(...values, 1), min = Math.min(...values, 0);
    const pts = values.map((v, i) =>
      `${(i / (values.length - 1)) * (width - 2) + 1},${height - 1 - ((v - min) / (max - min || 1)) * (height - 2)}`);
    const line = document.createElementNS(svg.namespaceURI, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#2563eb");
    line.setAttribute("stroke-width", "1.5");
    svg.append(line);
  }
  return svg;
}

const time = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").replace("Z", "") : "");
const secs = (s) => (s === null || s === undefined ? "" : `${s.toFixed(3)} s`);

function failed(err) {
  const hint = err.status === 401 ? " (type an API key in the header)" : err.status === 403 ? " (this key lacks the scope)" : "";
  return h("p", { class: "error", role: "alert" }, `${err.message}${hint}`);
}

// --- a SKU: its locations, every channel's and account's figure with its terms, its history

async function skuPage(sku) {
  document.getElementById("sku").value = sku;
  const parts = [h("h1", {}, `SKU ${sku}`)];
  try {
    const stock = await api(`/v1/availability/${seg(sku)}`);
    parts.push(h("h2", {}, "Locations"), table([
      ["location", (r) => r.location, "text"], ["sellable", (r) => r.sellable], ["reserved", (r) => r.reserved],
      ["picked", (r) => r.picked], ["quarantine", (r) => r.quarantine], ["damaged", (r) => r.damaged],
      ["in transit", (r) => r.in_transit], ["on hand", (r) => r.on_hand], ["available", (r) => r.available],
      ["version", (r) => r.version], ["as of", (r) => time(r.as_of), "text"],
    ], [...stock.locations, { location: "total", ...stock.total }], { id: "locations" }));
    parts.push(await figures(sku));
    parts.push(h("h2", {}, "History"));
    for (const loc of stock.locations) parts.push(await history(sku, loc.location));
  } catch (err) {
    parts.push(failed(err));
  }
  show(parts);
}

async function figures(sku) {
  const { channels, accounts } = await api("/v1/channels");
  const rows = [];
  for (const channel of channels) rows.push({ channel, path: `/v1/channels/${seg(channel)}/availability/${seg(sku)}/explain` });
  for (const [account, channel] of Object.entries(accounts)) {
    rows.push({ channel, account, path: `/v1/accounts/${seg(account)}/availability/${seg(sku)}/explain` });
  }
  const box = h("section", { id: "figures" }, h("h2", {}, "Channel and account figures"));
  const results = await Promise.all(rows.map((r) => api(r.path).then((e) => ({ ...r, e }), (err) => ({ ...r, err }))));
  box.append(table([
    ["channel", (r) => r.channel, "text"],
    ["account", (r) => r.account || "", "text"],
    ["available", (r) => (r.e ? r.e.figure.available : r.err.message)],
    ["policy", (r) => (r.e ? r.e.figure.policy_version : ""), "text"],
    ["published", (r) => (r.e ? time(r.e.figure.published_at) : ""), "text"],
    ["", (r) => (r.e ? h("button", { class: "explain", onclick: (ev) => toggle(ev.target, r.e) }, "Explain") : ""), "text"],
  ], results));
  return box;
}

function toggle(button, explained) {
  const row = button.closest("tr");
  if (row.nextSibling && row.nextSibling.classList.contains("terms-row")) { row.nextSibling.remove(); return; }
  const cell = h("td", { colspan: 6, class: "text" }, terms(explained));
  row.after(h("tr", { class: "terms-row" }, cell));
}

function terms({ figure, explanation: t }) {
  if (t.components) {
    return h("div", { class: "terms", "data-figure": figure.available },
      h("p", {}, `Kit: the fewest kits any component allows. Limiting component: ${t.limiting}.`),
      table([["component", (p) => p.sku, "text"], ["per kit", (p) => p.quantity], ["its figure", (p) => p.figure],
        ["allows", (p) => p.allows]], t.components),
      h("p", {}, h("strong", {}, `figure = ${t.figure}`)));
  }
  const held = t.safety.reduce((a, s) => a + s.held, 0);
  return h("div", { class: "terms", "data-figure": figure.available },
    h("p", {}, "Per location: available after its stale rule, less other accounts' ring-fences there."),
    table([
      ["location", (l) => l.location, "text"], ["eligible", (l) => (l.eligible ? "yes" : "no")],
      ["available", (l) => l.available], ["stale", (l) => (l.stale ? h("span", { class: "bad" }, l.stale_rule || "stale") : "no")],
      ["effective", (l) => l.effective], ["fenced", (l) => l.fenced], ["contributes", (l) => l.contributes],
      ["last event", (l) => l.last_event_id, "text"], ["sources", (l) => (l.source_systems || []).join(", "), "text"],
      ["correlation ids", (l) => l.correlation_ids.join(", "), "text"],
    ], t.locations),
    t.fences.length ? table([
      ["fence of", (f) => f.account, "text"], ["where", (f) => f.location || "pool", "text"], ["quantity", (f) => f.quantity],
      ["consumed", (f) => f.consumed], ["unconsumed", (f) => f.unconsumed], ["held back", (f) => f.counted || "no (own)", "text"],
    ], t.fences) : null,
    table([["safety stock of", (s) => s.channel, "text"], ["units", (s) => s.units], ["percent", (s) => s.percent], ["held", (s) => s.held]], t.safety),
    h("p", {}, `pooled = max(0, ${t.locations.reduce((a, l) => a + l.contributes, 0)} − pool fences ${t.pool_fenced}) = ${t.pooled}; `,
      `after safety stock = max(0, ${t.pooled} − ${held}) = ${t.after_safety}; `,
      `cap = floor(${t.allocation_cap} × ${t.pooled}) = ${t.cap_units}; `,
      `min = ${Math.min(t.after_safety, t.cap_units)}${t.low_stock_below ? `, published as 0 below ${t.low_stock_below}` : ""}. `,
      h("strong", {}, `figure = ${t.figure}`)));
}

async function history(sku, location) {
  const { changes } = await api(`/v1/availability/${seg(sku)}/${seg(location)}/history?limit=20`);
  return h("section", { class: "history" },
    h("h3", {}, location, " ", spark(changes.map((c) => c.after.available).reverse())),
    table([
      ["version", (c) => c.version], ["as of", (c) => time(c.as_of), "text"],
      ["available", (c) => `${c.before.available} → ${c.after.available}`],
      ["sellable", (c) => `${c.before.sellable} → ${c.after.sellable}`],
      ["reserved", (c) => `${c.before.reserved} → ${c.after.reserved}`],
      ["events", (c) => c.cause_count], ["cause events", (c) => c.cause_event_ids.slice(-3).join(", "), "text"],
    ], changes));
}

// --- exceptions, anomalies, reconciliation: filterable lists

async function listPage(title, path, filters, columns, params) {
  const form = h("form", { class: "filters" },
    filters.map((f) => h("label", {}, `${f} `, h("input", { name: f, value: params.get(f) || "" }))),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams([...new FormData(form)].filter(([, v]) => v));
    location.hash = `#/${title.toLowerCase()}?${q}`;
  });
  const parts = [h("h1", {}, title), form];
  try {
    const q = new URLSearchParams([...params].filter(([k]) => filters.includes(k)));
    const { records } = await api(`${path}?${q}`);
    parts.push(h("p", { class: "muted" }, `${records.length} shown, newest first where the list has an order.`),
      table(columns, records, { id: "records", "data-query": String(q) }));
  } catch (err) {
    parts.push(failed(err));
  }
  show(parts);
}

const exceptionColumns = [
  ["stored", (r) => time(r.stored_at), "text"], ["reason", (r) => h("span", { class: "bad" }, r.reason), "text"],
  ["source", (r) => r.source_system || "", "text"], ["event id", (r) => r.event_id || "", "text"],
  ["detail", (r) => r.detail, "text"], ["origin", (r) => r.origin || "", "text"],
  ["payload", (r) => h("pre", {}, r.payload_json || (r.payload_base64 ? `base64 ${r.payload_base64}` : "")), "text"],
];
const anomalyColumns = [
  ["sku", (r) => h("a", { href: `#/sku/${seg(r.sku)}` }, r.sku), "text"], ["location", (r) => r.location, "text"],
  ["reason", (r) => r.reason, "text"], ["status", (r) => r.status, "text"], ["figure", (r) => r.figure],
  ["detail", (r) => r.detail, "text"], ["event", (r) => r.event_id, "text"],
];
const reconciliationColumns = [
  ["sku", (r) => h("a", { href: `#/sku/${seg(r.sku)}` }, r.sku), "text"], ["location", (r) => r.location, "text"],
  ["source", (r) => r.source_system || "", "text"], ["bucket", (r) => r.bucket, "text"],
  ["reported", (r) => r.reported], ["computed", (r) => r.computed],
  ["delta", (r) => h("span", { class: r.delta ? "bad" : "ok" }, r.delta)], ["status", (r) => r.status, "text"],
];

// --- operations: stale sources, lag and publication latency per channel, polled

const seen = { p99: {}, lag: [] };
let opsTimer = null;

async function opsPage() {
  let ops;
  try {
    ops = await api("/v1/ops");
  } catch (err) {
    show(h("h1", {}, "Operations"), failed(err));
    return;
  }
  for (const c of ops.channels) (seen.p99[c.channel] = seen.p99[c.channel] || []).push(c.p99_s || 0);
  seen.lag.push(ops.consumer_lag.reduce((a, r) => a + r.lag, 0));
  const down = ops.flow_metrics.filter((m) => !m.up);
  show(
    h("h1", {}, "Operations"),
    ops.flow_metrics.length ? null : h("p", { class: "muted" }, "No dataflow metrics configured (serve --flow-metrics URL)."),
    down.length ? h("p", { class: "error" }, down.map((m) => `${m.url}: ${m.error}`).join("; ")) : null,
    h("h2", {}, "Publication by channel"),
    table([
      ["channel", (c) => c.channel, "text"], ["published", (c) => c.published ?? ""],
      ["p50 age", (c) => secs(c.p50_s)],
      ["p99 age", (c) => h("span", { class: c.slo_s && c.p99_s > c.slo_s ? "bad" : "" }, secs(c.p99_s))],
      ["SLO", (c) => secs(c.slo_s)], ["queue", (c) => c.queue_depth ?? ""], ["oldest wait", (c) => secs(c.oldest_wait_s)],
      ["p99 over time", (c) => spark(seen.p99[c.channel].slice(-60))],
    ], ops.channels, { id: "channels" }),
    h("h2", {}, "Stale sources"),
    table([["location", (s) => s.location, "text"], ["state", (s) => h("span", { class: s.stale ? "bad" : "ok" }, s.stale ? "stale" : "fresh"), "text"]],
      ops.stale_locations, { id: "stale" }),
    h("h2", {}, "Consumer lag ", spark(seen.lag.slice(-60))),
    ops.consumer_lag.length ? table([["topic", (r) => r.topic, "text"], ["partition", (r) => r.partition], ["lag", (r) => r.lag]], ops.consumer_lag)
      : h("p", { class: "muted" }, "None reported (the dataflow is not reading Kafka, or no metrics are configured)."),
    h("h2", {}, "Replica lag"),
    ops.replica_lag.length ? table([["topic", (r) => r.topic, "text"], ["partition", (r) => r.partition], ["lag", (r) => r.lag]], ops.replica_lag)
      : h("p", { class: "muted" }, "None (this API reads the dataflow's own store, not a snapshots topic)."),
    h("h2", {}, "Rejects by reason and source"),
    table([["reason", (r) => r.reason, "text"], ["source", (r) => r.source, "text"], ["count", (r) => r.count]], ops.rejects),
  );
}

// --- routing

async function route() {
  clearInterval(opsTimer);
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  const [, name, arg] = path.split("/");
  if (name === "sku" && arg) return skuPage(decodeURIComponent(arg));
  if (name === "exceptions") return listPage("Exceptions", "/v1/exceptions", ["reason", "source"], exceptionColumns, params);
  if (name === "anomalies") return listPage("Anomalies", "/v1/anomalies", ["location", "reason", "status"], anomalyColumns, params);
  if (name === "reconciliation") {
    return listPage("Reconciliation", "/v1/reconciliation", ["location", "source", "status"], reconciliationColumns, params);
  }
  if (name === "ops") { opsTimer = setInterval(opsPage, 2000); return opsPage(); }
  show(h("h1", {}, "skuflow console"),
    h("p", {}, "Search a SKU to see its locations, every channel's figure with its explanation, and its history."));
}

document.getElementById("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const sku = document.getElementById("sku").value.trim();
  if (sku) location.hash = `#/sku/${seg(sku)}`;
});
window.addEventListener("hashchange", route);
route();
