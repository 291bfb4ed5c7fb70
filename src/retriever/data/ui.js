// The staff page's script: run by Gradio as the page block's js_on_load, with `element`
// (the block) and `server` (its Python functions ui_search and ui_feedback) in scope.
const $ = (selector) => element.querySelector(selector);
document.documentElement.lang = "zh-CN";
document.title = "安全生产职责检索";
const form = $("#dr-form"), box = $("#dr-query"), dept = $("#dr-department"), go = $("#dr-submit");
const count = $("#dr-count"), result = $("#dr-result"), status = $("#dr-status"), more = $("#dr-more");
const MAX = Number(box.getAttribute("maxlength"));
const HISTORY_SIZE = Number(element.querySelector(".dr-page").dataset.history);
const HISTORY_KEY = "duty-retriever.history";
const narrow = () => window.matchMedia("(max-width: 700px)").matches;
let seq = 0;
let current = { q: "", d: "" };

function updateCount() {
  if (box.value.length > MAX) box.value = box.value.slice(0, MAX);
  count.textContent = box.value.length >= MAX ? `${MAX}/${MAX}（已达上限）` : `${box.value.length}/${MAX}`;
  count.classList.toggle("dr-full", box.value.length >= MAX);
}
function urlFor(q, d) {
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (d) params.set("dept", d);
  const query = params.toString();
  return location.pathname + (query ? "?" + query : "");
}
function loadHistory() {
  try { return JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]").filter((e) => e && typeof e.q === "string"); }
  catch (e) { return []; }
}
function renderHistory() {
  const list = $("#dr-history-list"), entries = loadHistory();
  list.replaceChildren(...entries.map((entry) => {
    const li = document.createElement("li"), button = document.createElement("button");
    button.type = "button";
    button.dataset.q = entry.q;
    button.dataset.d = entry.d || "";
    button.textContent = entry.d ? `${entry.q}（${entry.d}）` : entry.q;
    li.append(button);
    return li;
  }));
  $("#dr-history-empty").hidden = entries.length > 0;
  $("#dr-history-clear").hidden = entries.length === 0;
}
function remember(q, d) {
  const entries = loadHistory().filter((e) => !(e.q === q && (e.d || "") === d));
  entries.unshift({ q, d });
  try {
    localStorage.setItem(HISTORY_KEY, JSON.stringify(entries.slice(0, HISTORY_SIZE)));
  } catch (e) { /* storage off (private mode): the list just is not kept */ }
  renderHistory();
}
async function run(q, d, how) {
  const mine = ++seq;
  box.value = q;
  dept.value = d || "";
  updateCount();
  go.disabled = true;
  result.setAttribute("aria-busy", "true");
  status.textContent = "正在检索…";
  const started = performance.now();
  let data;
  try {
    const doc = element.querySelector("#dr-document");
    data = await server.ui_search({ q: q, dept: d || "", doc: doc ? doc.value : "" });
  } catch (error) {
    data = { ok: false, summary: "检索失败",
             html: '<div class="dr-notice dr-error"><strong>无法检索：</strong>服务器没有响应，请稍后再试。</div>' };
  }
  if (mine !== seq) return;  // a newer search has started: its answer wins
  result.innerHTML = data.html;
  result.dataset.question = q;
  result.dataset.department = d || "";
  result.dataset.ms = String(Math.round(performance.now() - started));
  result.removeAttribute("aria-busy");
  go.disabled = false;
  status.textContent = data.summary || "";
  if (data.ok) {
    const same = history.state && history.state.q === q && (history.state.d || "") === (d || "");
    if (how === "push" && !same) history.pushState({ q, d: d || "" }, "", urlFor(q, d));
    else if (how === "replace" || (how === "push" && same)) history.replaceState({ q, d: d || "" }, "", urlFor(q, d));
    current = { q, d: d || "" };
    remember(q, d || "");
  }
  more.open = false;  // the answer first; examples and history stay one click away
  if (narrow()) result.scrollIntoView({ block: "start" });
}
function submitNow() { run(box.value, dept.value.trim(), "push"); }

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (error) {  // http:// on a LAN address is not a secure context: fall back
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  status.textContent = "已复制到剪贴板";
  const label = button.querySelector(".dr-copy-label");
  const before = label.textContent;
  label.textContent = "已复制";
  setTimeout(() => { label.textContent = before; }, 1500);
}
async function sendFeedback(block, verdict, chosen) {
  const thanks = block.querySelector(".dr-thanks");
  const ids = (block.dataset.ids || "").split(" ").filter(Boolean);
  let reply;
  try {
    reply = await server.ui_feedback({ q: result.dataset.question || "", ids, verdict, chosen,
                                       dept: result.dataset.department || "" });
  } catch (error) {
    reply = { ok: false, message: "没能记录反馈，请稍后再试。" };
  }
  thanks.textContent = reply.message;
  if (reply.ok) block.querySelectorAll("button").forEach((b) => { b.disabled = true; });
}

box.addEventListener("input", updateCount);
box.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); submitNow(); }
});
form.addEventListener("submit", (event) => { event.preventDefault(); submitNow(); });
element.addEventListener("click", (event) => {
  const target = event.target.closest("button");
  if (!target || !element.contains(target)) return;
  if (target.dataset.copy !== undefined) { copyText(target.dataset.copy, target); return; }
  if (target.dataset.q !== undefined) { run(target.dataset.q, target.dataset.d || "", "push"); return; }
  if (target.dataset.example !== undefined) { run(target.dataset.example, dept.value.trim(), "push"); return; }
  const action = target.dataset.action;
  if (action === "clear-filter") { run(current.q || box.value, "", "push"); return; }
  if (action === "clear-history") { localStorage.removeItem(HISTORY_KEY); renderHistory(); return; }
  const block = target.closest(".dr-feedback");
  if (!block) return;
  if (target.dataset.verdict === "up") { sendFeedback(block, "up", null); return; }
  if (target.dataset.verdict === "down") {
    const pick = block.querySelector(".dr-pick");
    pick.hidden = false;
    pick.querySelector("input").focus();
    return;
  }
  if (action === "send-down") {
    const checked = block.querySelector('input[name="dr-right"]:checked');
    sendFeedback(block, "down", checked && checked.value ? checked.value : null);
  }
});
window.addEventListener("popstate", (event) => {
  const state = event.state || {};
  if (state.q) { run(state.q, state.d || "", "none"); return; }
  seq += 1;
  box.value = "";
  dept.value = "";
  updateCount();
  result.replaceChildren();
  result.dataset.question = "";
  current = { q: "", d: "" };
});

if (narrow()) more.open = false;
renderHistory();
updateCount();
const params = new URLSearchParams(location.search);
if (params.get("q")) {
  run(params.get("q"), params.get("dept") || "", "replace");
} else {
  history.replaceState({ q: "", d: "" }, "", location.href);
}
element.querySelector(".dr-page").dataset.ready = "1";
