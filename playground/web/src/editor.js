// The riskd playground page: a CodeMirror 6 editor wired to the
// playground endpoints (/ui/api/*). Bundled by esbuild into
// ../../static/editor.js (`make playground-bundle`); the page loads
// nothing else.
import { EditorView, basicSetup } from "codemirror";
import { EditorState, StateEffect, StateField, RangeSetBuilder } from "@codemirror/state";
import { Decoration } from "@codemirror/view";
import { StreamLanguage } from "@codemirror/language";
import { linter, lintGutter, forceLinting } from "@codemirror/lint";

const api = (path) => "api/" + path;

// Highlighting: the language's words, numbers, durations, strings, comments.
const keywords = new Set(("policy version events input list file model onnx window over by let rule on when emit score " +
  "reject review approve reason decide bias otherwise and or not in between true false fixed optional default " +
  "inputs output timeout on_error").split(" "));
const types = new Set("int float bool string time".split(" "));
const riskLanguage = StreamLanguage.define({
  name: "risk",
  token(stream) {
    if (stream.eatSpace()) return null;
    if (stream.match("#") || stream.match("//")) { stream.skipToEnd(); return "comment"; }
    if (stream.match(/^"(?:\\.|[^"\\])*"?/)) return "string";
    if (stream.match(/^[0-9]+(?:ms|s|m|h|d)(?:[0-9]+(?:ms|s|m|h|d))*\b/)) return "number";
    if (stream.match(/^[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/)) return "number";
    const w = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/);
    if (w) {
      if (keywords.has(w[0])) return "keyword";
      if (types.has(w[0])) return "typeName";
      return stream.peek() === "(" ? "function" : "variableName";
    }
    stream.next();
    return "operator";
  },
  languageData: { commentTokens: { line: "#" } },
});

// Lines the last run executed, and the lines of the rules that fired.
const setRunLines = StateEffect.define();
const runLines = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (e.is(setRunLines)) deco = e.value;
    }
    if (tr.docChanged) deco = Decoration.none; // the run no longer matches the text
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

function lineDecorations(state, executed, fired) {
  const b = new RangeSetBuilder();
  const lines = new Set([...executed, ...fired]);
  for (const n of [...lines].sort((a, b) => a - b)) {
    if (n < 1 || n > state.doc.lines) continue;
    const cls = fired.includes(n) ? "rf-fired" : "rf-ran";
    b.add(state.doc.line(n).from, state.doc.line(n).from, Decoration.line({ class: cls }));
  }
  return b.finish();
}

const $ = (id) => document.getElementById(id);
let loadedPath = "";
let lastCheck = null;

async function post(path, body) {
  const r = await fetch(api(path), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  let data = {};
  try { data = await r.json(); } catch (e) { data = { error: "bad answer from riskd: " + e }; }
  return { status: r.status, data };
}

function toPos(doc, p) {
  const line = doc.line(Math.min(Math.max(p.line, 1), doc.lines));
  return Math.min(line.from + p.col, line.to);
}

function goToLine(n) {
  const doc = view.state.doc;
  const pos = doc.line(Math.min(Math.max(n, 1), doc.lines)).from;
  view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: "center" }) });
  view.focus();
}

// showDiagnostics lists diagnostics under the editor (line:col message).
function showDiagnostics(diags) {
  const ul = $("diags");
  ul.textContent = "";
  for (const d of diags) {
    const li = document.createElement("li");
    li.className = d.severity;
    li.textContent = `${d.from.line}:${d.from.col + 1}: ${d.severity}: ${d.message}`;
    li.dataset.line = d.from.line;
    li.onclick = () => { const pos = toPos(view.state.doc, d.from); view.dispatch({ selection: { anchor: pos }, scrollIntoView: true }); view.focus(); };
    ul.appendChild(li);
  }
  $("status").textContent = diags.some((d) => d.severity === "error") ? "errors" : "ok";
  $("status").className = diags.some((d) => d.severity === "error") ? "bad" : "good";
}

// checkSource is the linter: the real checker on every pause in typing.
const checkSource = linter(async (v) => {
  const source = v.state.doc.toString();
  const { data } = await post("check", { source, path: loadedPath });
  if (!data.diagnostics) return [];
  lastCheck = data;
  window.playground.checked = source; // tests wait for the check of the text they typed
  showDiagnostics(data.diagnostics);
  if (data.params) showParams(data.params);
  if (data.sample && !$("request").dataset.edited) $("request").value = JSON.stringify(data.sample, null, 2);
  const doc = v.state.doc;
  return data.diagnostics.map((d) => ({ from: toPos(doc, d.from), to: toPos(doc, d.to), severity: d.severity, message: d.message }));
}, { delay: 250 });

function showParams(params) {
  const tb = $("params");
  tb.textContent = "";
  for (const p of params) {
    const tr = document.createElement("tr");
    for (const c of [p.name, p.kind, p.value + (p.unit || ""), p.line]) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.appendChild(td);
    }
    tb.appendChild(tr);
  }
}

const view = new EditorView({
  parent: $("editor"),
  state: EditorState.create({ doc: "", extensions: [basicSetup, riskLanguage, lintGutter(), checkSource, runLines] }),
});

function setText(text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

async function format() {
  const { status, data } = await post("format", { source: view.state.doc.toString() });
  if (status !== 200) { $("message").textContent = data.error; if (data.diagnostics) showDiagnostics(data.diagnostics); return; }
  if (data.source !== view.state.doc.toString()) setText(data.source);
  $("message").textContent = "formatted";
}

function parseJSON(id, what) {
  const text = $(id).value.trim();
  if (!text) return what === "history" ? [] : undefined;
  try { return JSON.parse(text); } catch (e) { throw new Error(`${what}: not JSON: ${e.message}`); }
}

async function run() {
  let request, history;
  try { request = parseJSON("request", "request"); history = parseJSON("history", "history"); } catch (e) { $("message").textContent = e.message; return; }
  const t0 = performance.now();
  const { status, data } = await post("run", { source: view.state.doc.toString(), path: loadedPath, request, history });
  const ms = (performance.now() - t0).toFixed(1);
  if (status !== 200) {
    $("message").textContent = (data.field ? data.field + ": " : "") + data.error;
    $("decision").textContent = "—";
    $("decision").className = "";
    if (data.diagnostics) showDiagnostics(data.diagnostics);
    return;
  }
  $("message").textContent = `ran in ${ms} ms (round trip; ${data.history_events} history events replayed)`;
  $("decision").textContent = data.action;
  $("decision").className = "action-" + data.action;
  $("score").textContent = `score ${data.score.toFixed(4)} (logit ${data.logit.toFixed(3)})${data.degraded ? ", degraded" : ""}`;
  fillList("fired", data.fired, (f) => `${f.name} (line ${f.line}): ${f.forced ? f.action : "score " + (f.weight >= 0 ? "+" : "") + f.weight} — ${f.reason}`, (f) => f.line);
  fillList("models", data.models, (m) => `${m.name} = ${m.value}${m.degraded ? " (on_error: models are not run in the playground)" : ""}${m.ran ? "" : " (not needed)"}`);
  fillList("windows", data.windows, (w) => `${w.name} = ${w.value}`);
  showParams(data.params);
  const src = view.state.doc;
  $("trace").textContent = data.trace.map((s) => `${String(s.pc).padStart(4)} ${s.op.padEnd(8)} ${(s.operand || "").padEnd(28)} line ${s.line}${s.depth ? " -> " + s.top : ""}`).join("\n");
  view.dispatch({ effects: setRunLines.of(lineDecorations(view.state, data.lines, data.fired.map((f) => f.line))) });
  if (data.fired.length) view.dispatch({ effects: EditorView.scrollIntoView(src.line(Math.min(data.fired[0].line, src.lines)).from, { y: "center" }) });
}

// fillList shows items; with lineOf, clicking one moves the cursor to its line.
function fillList(id, items, text, lineOf) {
  const ul = $(id);
  ul.textContent = "";
  for (const it of items) {
    const li = document.createElement("li");
    li.textContent = text(it);
    li.dataset.name = it.name;
    if (lineOf) {
      li.style.cursor = "pointer";
      li.onclick = () => goToLine(lineOf(it));
    }
    ul.appendChild(li);
  }
  if (!items.length) { const li = document.createElement("li"); li.className = "none"; li.textContent = "none"; ul.appendChild(li); }
}

async function loadPolicies() {
  const r = await fetch(api("policies"));
  const list = await r.json();
  const sel = $("policy");
  sel.textContent = "";
  for (const p of list) {
    const o = document.createElement("option");
    o.value = JSON.stringify({ name: p.name, version: p.version });
    o.textContent = `${p.name} ${p.version} (${p.path})`;
    sel.appendChild(o);
  }
  if (list.length) await loadPolicy();
}

async function loadPolicy() {
  const sel = JSON.parse($("policy").value);
  const r = await fetch(api("policy") + `?name=${encodeURIComponent(sel.name)}&version=${encodeURIComponent(sel.version)}`);
  const p = await r.json();
  if (r.status !== 200) { $("message").textContent = p.error; return; }
  loadedPath = p.path;
  delete $("request").dataset.edited;
  setText(p.source);
  $("message").textContent = `loaded a copy of ${p.name} ${p.version}; edits stay in this page`;
  forceLinting(view);
}

function download() {
  const blob = new Blob([view.state.doc.toString()], { type: "text/plain" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = (loadedPath.split("/").pop() || "policy.risk");
  a.click();
  URL.revokeObjectURL(a.href);
}

$("format").onclick = format;
$("run").onclick = run;
$("load").onclick = loadPolicy;
$("download").onclick = download;
$("request").oninput = () => { $("request").dataset.edited = "1"; };
$("reset-request").onclick = () => { delete $("request").dataset.edited; if (lastCheck && lastCheck.sample) $("request").value = JSON.stringify(lastCheck.sample, null, 2); };

// For tests and the curious: the editor's text, and a way to set it.
window.playground = { view, text: () => view.state.doc.toString(), setText, checked: null };
loadPolicies().catch((e) => { $("message").textContent = "could not list policies: " + e; });
