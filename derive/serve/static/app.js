// The page of `derive serve`: every change of the inputs (debounced) posts them to
// /api/derive and shows the answer; the address bar carries the inputs, so a link
// reopens the same derivation. No build step, no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const INPUTS = ["formula", "wrt", "shapes", "assume", "what"];
const TARGETS = ["numpy", "jax", "torch", "matlab"];
const EXTENSIONS = { numpy: "_numpy.py", jax: "_jax.py", torch: "_torch.py" };
const EXAMPLE = {
  formula: "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2",
  wrt: "A", shapes: "s=n,k x=m,k", assume: "", what: "grad",
};
const DELAY_MS = 300;

let timer = null;
let asked = 0;          // number of the latest request: older answers are dropped
let pending = null;     // its AbortController
let answer = null;      // the last good answer
let target = "numpy";

const words = (text) => text.split(/[\s;]+/).filter(Boolean);

function request() {
  return {
    formula: $("formula").value,
    wrt: words($("wrt").value.replace(/,/g, " ")),
    shapes: words($("shapes").value),
    assume: words($("assume").value),
    what: $("what").value,
    steps: true,
    check: true,
  };
}

// ------------------------------------------------------------ the address bar

function saveToAddress() {
  const r = request();
  const params = new URLSearchParams();
  params.set("f", r.formula);
  params.set("wrt", r.wrt.join(","));
  r.shapes.forEach((s) => params.append("shape", s));
  r.assume.forEach((a) => params.append("assume", a));
  if (r.what !== "grad") params.set("what", r.what);
  if (target !== "numpy") params.set("tab", target);
  history.replaceState(null, "", "?" + params.toString());
}

function loadFromAddress() {
  const params = new URLSearchParams(location.search);
  const given = params.has("f") ? {
    formula: params.get("f"),
    wrt: params.get("wrt") || "",
    shapes: params.getAll("shape").join(" "),
    assume: params.getAll("assume").join(" "),
    what: params.get("what") || "grad",
  } : EXAMPLE;
  INPUTS.forEach((id) => { $(id).value = given[id]; });
  if (!$("what").value) $("what").value = "grad";
  if (TARGETS.includes(params.get("tab"))) target = params.get("tab");
}

// ------------------------------------------------------------ asking the server

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(derive, DELAY_MS);
}

async function derive() {
  saveToAddress();
  const body = request();
  if (!body.formula.trim() || !body.wrt.length) {
    setState("idle", "Type a cost and the variables to differentiate.");
    return;
  }
  const mine = ++asked;
  if (pending) pending.abort();
  pending = new AbortController();
  setState("busy", "deriving…");
  let status, data;
  try {
    const response = await fetch("/api/derive", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: pending.signal,
    });
    status = response.status;
    data = await response.json();
  } catch (error) {
    if (error.name === "AbortError") return;
    status = 0;
    data = { error: "the server did not answer (is derive serve still running?)" };
  }
  if (mine !== asked) return;
  if (status === 200) show(data);
  else showError(data.error || `the server answered ${status}`);
}

function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message;
}

// ------------------------------------------------------------ showing an answer

function math(tex, into) {
  const div = document.createElement("div");
  katex.render(tex, div, { displayMode: true, throwOnError: false });
  into.appendChild(div);
}

function lhsOf(equation) {
  return equation.split(" = ")[0];
}

function showMath(data) {
  const what = $("what").value;
  const box = $("math");
  box.replaceChildren();
  $("where").replaceChildren();
  $("math-title").textContent = { grad: "Gradient", hvp: "Hessian-vector product",
                                  hess: "Hessian", jac: "Jacobian" }[what] || "Result";
  if (what === "jac") {
    for (const [name, j] of Object.entries(data.jacobians)) {
      math(`\\frac{\\partial F}{\\partial ${name}} = ${j.latex}`, box);
    }
    math(`J\\, ${data.directions[data.wrt[0]]} = ${data.jvp.latex}`, box);
  }
  for (const g of Object.values(data.gradients || {})) math(g.latex_equation, box);
  if (what === "hvp") {
    for (const h of Object.values(data.hvps)) math(h.latex_equation, box);
  }
  if (what === "hess") {
    for (const [name, h] of Object.entries(data.hessians || {})) {
      const lhs = lhsOf(data.gradients[name].latex_equation).replace("\\nabla_", "\\nabla^2_");
      math(`${lhs} = ${h.latex}`, box);
    }
  }
  for (const w of data.where || []) math(`${w.latex_name} = ${w.latex}`, $("where"));
  $("notes").replaceChildren(...data.notes.concat(data.warnings).map((note) => {
    const li = document.createElement("li");
    li.textContent = note;
    return li;
  }));
}

function showLayers(data) {
  const box = $("layers");
  box.replaceChildren();
  (data.layers || []).forEach((network, index) => {
    const caption = document.createElement("p");
    caption.textContent = `Network ${index + 1}: ${network.term} (input z(1) = ${network.input})`;
    const table = document.createElement("table");
    const head = table.insertRow();
    ["layer", "weight", "f(z)", "f'(z)", "delta = dJ/dz(l)"].forEach((title) => {
      const th = document.createElement("th");
      th.textContent = title;
      head.appendChild(th);
    });
    network.layers.forEach((layer, number) => {
      const row = table.insertRow();
      [String(number + 1), layer.weight, layer.f, layer.f_prime].forEach((text) => {
        const code = document.createElement("code");
        code.textContent = text;
        row.insertCell().appendChild(code);
      });
      katex.render(layer.delta_latex, row.insertCell(), { throwOnError: false });
    });
    box.append(caption, table);
  });
}

function showCode() {
  document.querySelectorAll(".tabs [data-target]").forEach((tab) => {
    tab.setAttribute("aria-selected", String(tab.dataset.target === target));
  });
  const code = answer && answer[target];
  $("code").textContent = code === null ? "This target cannot write this formula."
    : (code || "");
}

function show(data) {
  answer = data;
  $("error").hidden = true;
  $("results").classList.remove("stale");
  $("kinds").textContent = data.kinds_text || "Every kind was declared or forced by the formula.";
  showMath(data);
  const check = data.check;
  $("check").textContent = check.text;
  $("check").className = check.passed ? "pass" : check.passed === false ? "fail" : "";
  showCode();
  $("steps").textContent = data.steps_text;
  showLayers(data);
  setState("ready", "");
}

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
  $("results").classList.add("stale");
  setState("error", "");
}

// ------------------------------------------------------------ code: tabs, copy, download

function fileName() {
  if (target === "matlab") {
    // A MATLAB function file is named after its first function.
    const first = /^function\s+(?:\[[^\]]*\]\s*=\s*|\w+\s*=\s*)?(\w+)/m.exec(answer.matlab);
    return `${first ? first[1] : "value_and_grad"}.m`;
  }
  return `derive_${$("what").value}${EXTENSIONS[target]}`;
}

function download() {
  if (!answer || !answer[target]) return;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([answer[target]], { type: "text/plain" }));
  link.download = fileName();
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

async function copy() {
  if (!answer || !answer[target]) return;
  try {
    await navigator.clipboard.writeText(answer[target]);
    setState(document.body.dataset.state, "copied");
  } catch (error) {
    setState(document.body.dataset.state, "the browser refused the clipboard: select the code");
  }
}

// ------------------------------------------------------------ recipes

async function loadRecipes() {
  const recipes = await (await fetch("/api/recipes")).json();
  const menu = $("recipe");
  for (const r of recipes) {
    const option = document.createElement("option");
    option.value = r.name;
    option.textContent = `${r.name}: ${r.description}`;
    menu.appendChild(option);
  }
  menu.addEventListener("change", () => {
    const r = recipes.find((each) => each.name === menu.value);
    if (!r) return;
    $("formula").value = r.formula.trim();
    $("wrt").value = r.variables.join(", ");
    $("shapes").value = Object.entries(r.shapes).map(([n, d]) => `${n}=${d.join(",")}`)
      .join(" ");
    $("assume").value = Object.entries(r.assume).map(([n, p]) => `${n}=${p}`).join(" ");
    schedule();
  });
}

// ------------------------------------------------------------ start

INPUTS.forEach((id) => $(id).addEventListener("input", schedule));
document.querySelectorAll(".tabs [data-target]").forEach((tab) => {
  tab.addEventListener("click", () => { target = tab.dataset.target; showCode(); saveToAddress(); });
});
$("download").addEventListener("click", download);
$("copy").addEventListener("click", copy);
loadFromAddress();
showCode();
loadRecipes();
derive();
