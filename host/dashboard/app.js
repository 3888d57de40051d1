// The provincial dashboard: a small single-page app over /api/v1, served from the binary with
// every asset embedded. No framework, no outside requests; charts are drawn as inline SVG.

const T = {
  "zh-CN": {
    brand: "法律监督模型平台", "nav.overview": "总览", "nav.clues": "线索", "nav.models": "模型",
    "nav.runs": "运行", "nav.datasets": "数据", logout: "退出", login: "登录",
    username: "用户名", password: "密码", lang: "English", province: "全省",
    clues: "线索", open: "待处理", confirmed: "已确认", overdue: "已逾期", verified: "已核查",
    suggested: "已发检察建议", adopted: "建议被采纳", weekly: "每周新增线索",
    byRegion: "各地线索", funnel: "办理漏斗", topModels: "确认率最高的模型",
    model: "模型", rate: "确认率", region: "地区", status: "状态", score: "评分",
    reason: "理由", assignee: "承办人", due: "办理期限", lastSeen: "最近发现",
    filter: "筛选", text: "关键词", sort: "排序", minScore: "最低评分", all: "全部",
    assignTo: "分派给", assign: "分派", verify: "开始核查", confirm: "确认", dismiss: "排除",
    fileCase: "立案", transfer: "移送", dismissReason: "排除理由", note: "备注",
    selected: "已选", prev: "上一页", next: "下一页", of: "共", back: "返回队列",
    subject: "对象", evidence: "证据", timeline: "经过", comments: "评论", comment: "发表评论",
    nextActions: "可执行操作", none: "无", versions: "版本", enablements: "启用",
    office: "上报单位", enabledIn: "启用地区", approve: "批准", reject: "驳回",
    enable: "启用", manifest: "模型说明", params: "参数", datasetsRead: "读取数据",
    runs: "运行记录", outcome: "结果", rows: "行数", duration: "耗时", imports: "导入记录",
    upload: "上传导入", file: "文件", dataset: "数据集", done: "完成", failed: "失败",
    keys: "快捷键：j/k 上下移动，x 选中，o 打开",
    identify: "查看真实身份", identityLogged: "每次查看都记入审计日志", notFound: "未找到",
    publish: "发布模型", component: "组件 (.wasm)", signature: "签名文件 (.sig)", publicKey: "公钥",
    history: "历史", upgrade: "升级到", rollback: "回退", disable: "停用", adoption: "采纳率",
    scopeAdded: "新增读取", scopeRemoved: "不再读取", failedImports: "失败的导入", problems: "问题",
    regions: "地区", clueKinds: "线索类型", defaultValue: "默认值", purpose: "用途", columns: "字段",
    reviewReason: "审查意见", status_: "状态", submittedBy: "提交人", reviewedBy: "审查人",
  },
  en: {
    brand: "Supervision models", "nav.overview": "Overview", "nav.clues": "Clues", "nav.models": "Models",
    "nav.runs": "Runs", "nav.datasets": "Data", logout: "Log out", login: "Log in",
    username: "User name", password: "Password", lang: "中文", province: "Province",
    clues: "Clues", open: "Open", confirmed: "Confirmed", overdue: "Overdue", verified: "Verified",
    suggested: "In a suggestion", adopted: "Suggestion adopted", weekly: "New clues per week",
    byRegion: "Clues by region", funnel: "Triage funnel", topModels: "Models by confirmed rate",
    model: "Model", rate: "Confirmed rate", region: "Region", status: "Status", score: "Score",
    reason: "Reason", assignee: "Assignee", due: "Due", lastSeen: "Last seen",
    filter: "Filter", text: "Text", sort: "Sort", minScore: "Min score", all: "All",
    assignTo: "Assign to", assign: "Assign", verify: "Verify", confirm: "Confirm", dismiss: "Dismiss",
    fileCase: "File a case", transfer: "Transfer", dismissReason: "Reason for dismissal", note: "Note",
    selected: "Selected", prev: "Previous", next: "Next", of: "of", back: "Back to the queue",
    subject: "Subject", evidence: "Evidence", timeline: "Timeline", comments: "Comments", comment: "Comment",
    nextActions: "Next actions", none: "None", versions: "Versions", enablements: "Enablements",
    office: "Author office", enabledIn: "Enabled in", approve: "Approve", reject: "Reject",
    enable: "Enable", manifest: "Manifest", params: "Parameters", datasetsRead: "Data read",
    runs: "Runs", outcome: "Outcome", rows: "Rows", duration: "Duration", imports: "Imports",
    upload: "Upload an import", file: "File", dataset: "Dataset", done: "Done", failed: "Failed",
    keys: "Keys: j/k move, x select, o open",
    identify: "Show identity", identityLogged: "Every look is written to the audit trail", notFound: "Not found",
    publish: "Publish a model", component: "Component (.wasm)", signature: "Signature file (.sig)", publicKey: "Public key",
    history: "History", upgrade: "Upgrade to", rollback: "Roll back", disable: "Disable", adoption: "Adoption rate",
    scopeAdded: "Newly read", scopeRemoved: "No longer read", failedImports: "Failed imports", problems: "Problems",
    regions: "Regions", clueKinds: "Clue kinds", defaultValue: "Default", purpose: "Purpose", columns: "Columns",
    reviewReason: "Review", status_: "Status", submittedBy: "Submitted by", reviewedBy: "Reviewed by",
  },
};

// `route` counts the pages shown: a read made for a page the user has since left is dropped.
const state = { me: null, locale: "zh-CN", regions: new Map(), csrf: sessionStorage.getItem("csrf"), route: 0 };
const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $("#main");
const t = (k) => (T[state.locale] && T[state.locale][k]) || T.en[k] || k;

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
const regionName = (code) => (state.regions.get(code) || {}).name || code;
const day = (ms) => (ms ? new Date(ms).toISOString().slice(0, 10) : "–");
const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)}%`);

async function api(method, path, body) {
  const page = state.route;
  const headers = {};
  if (body !== undefined && !(body instanceof FormData)) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const res = await fetch(`/api/v1${path}`, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? (res.headers.get("content-type") || "").includes("json") ? JSON.parse(text) : text : null;
  if (res.status === 401 && path !== "/session") { showLogin(); throw new Error("unauthenticated"); }
  // A page whose read answers after another page was asked for is not drawn over that one.
  if (method === "GET" && page !== state.route) throw new Error("stale");
  if (!res.ok) {
    const err = new Error((data && data.error && data.error.message) || `${res.status}`);
    err.details = data && data.error && data.error.details;
    throw err;
  }
  return data;
}

function applyStatic() {
  document.documentElement.lang = state.locale;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  $("#lang").textContent = t("lang");
  if (state.me) $("#who").textContent = `${state.me.username} · ${state.me.role} · ${regionName(state.me.region)}`;
  document.querySelectorAll("header nav a").forEach((a) => {
    a.classList.toggle("active", location.hash.startsWith(a.getAttribute("href")));
    a.hidden = !allowed(a.getAttribute("href"));
  });
}

// Authors publish models and read the catalogue; clues, statistics and runs are not theirs.
const allowed = (hash) => !state.me || state.me.role !== "author" || hash.startsWith("#/models") || hash.startsWith("#/datasets");
const home = () => (state.me && state.me.role === "author" ? "#/models" : "#/overview");

function showLogin(message) {
  state.me = null;
  $("#top").hidden = true;
  main().innerHTML = `<form class="login" id="login-form">
    <h1>${esc(t("brand"))}</h1>
    <label>${esc(t("username"))}<input name="username" autocomplete="username" required></label>
    <label>${esc(t("password"))}<input name="password" type="password" autocomplete="current-password" required></label>
    <button class="primary" type="submit">${esc(t("login"))}</button>
    <p class="error" id="login-error">${esc(message || "")}</p></form>`;
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const me = await api("POST", "/session", { username: f.get("username"), password: f.get("password") });
      state.csrf = me.csrf;
      sessionStorage.setItem("csrf", me.csrf);
      await start(me.user);
    } catch (err) { $("#login-error").textContent = err.message; }
  });
}

async function start(user) {
  // Read before `me` is set, so that no page is drawn (and this read is never a page's).
  const regions = await api("GET", "/regions");
  state.me = user;
  state.locale = user.locale || "zh-CN";
  state.regions = new Map(regions.map((r) => [r.code, r]));
  $("#top").hidden = false;
  if (!location.hash || location.hash === "#/" || !allowed(location.hash)) location.hash = home();
  route();
}

// ---- charts -------------------------------------------------------------------------------

function bars(items, onClick) {
  const w = 560, h = 220, pad = 28, max = Math.max(1, ...items.map((i) => i.value));
  const bw = (w - pad) / Math.max(1, items.length);
  const svg = items.map((it, k) => {
    const bh = ((h - 2 * pad) * it.value) / max, x = pad + k * bw, y = h - pad - bh;
    return `<g><rect class="bar" data-code="${esc(it.code)}" x="${x + 2}" y="${y}" width="${Math.max(2, bw - 4)}" height="${bh}"><title>${esc(it.label)}: ${it.value}</title></rect>
      <text x="${x + bw / 2}" y="${h - pad + 14}" text-anchor="middle">${esc(it.label.slice(0, 4))}</text>
      <text x="${x + bw / 2}" y="${y - 3}" text-anchor="middle">${it.value}</text></g>`;
  }).join("");
  const el = document.createElement("div");
  el.innerHTML = `<svg viewBox="0 0 ${w} ${h}" width="100%" role="img">${svg}</svg>`;
  if (onClick) el.querySelectorAll(".bar").forEach((b) => b.addEventListener("click", () => onClick(b.dataset.code)));
  return el;
}

function line(points) {
  const w = 560, h = 200, pad = 28, max = Math.max(1, ...points.map((p) => p.value));
  const step = (w - 2 * pad) / Math.max(1, points.length - 1);
  const xy = points.map((p, k) => [pad + k * step, h - pad - ((h - 2 * pad) * p.value) / max]);
  const path = xy.map(([x, y], k) => `${k ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const labels = points.map((p, k) => (k % 2 ? "" : `<text x="${xy[k][0]}" y="${h - 8}" text-anchor="middle">${esc(p.label)}</text>`)).join("");
  const dots = xy.map(([x, y], k) => `<circle cx="${x}" cy="${y}" r="3" fill="#b42318"><title>${esc(points[k].label)}: ${points[k].value}</title></circle>`).join("");
  return `<svg viewBox="0 0 ${w} ${h}" width="100%" role="img"><path class="line" d="${path}"/>${dots}${labels}<text x="4" y="14">${max}</text></svg>`;
}

// ---- pages --------------------------------------------------------------------------------

async function overview(params) {
  const region = params.get("region") || state.me.region;
  const o = await api("GET", `/stats/overview?region=${encodeURIComponent(region)}`);
  const crumbs = [];
  for (let c = region; c; c = (state.regions.get(c) || {}).parent) crumbs.unshift(c);
  const f = o.funnel;
  main().innerHTML = `<h1 class="crumbs">${crumbs.map((c) => `<a data-region="${esc(c)}">${esc(regionName(c))}</a>`).join(" › ")}</h1>
    <div class="cards">
      <div class="card"><span>${esc(t("clues"))}</span><b id="kpi-clues">${f.clues}</b></div>
      <div class="card"><span>${esc(t("open"))}</span><b>${o.children.reduce((s, c) => s + c.open, 0) || "–"}</b></div>
      <div class="card"><span>${esc(t("confirmed"))}</span><b>${f.confirmed}</b></div>
      <div class="card alert"><span>${esc(t("overdue"))}</span><b id="kpi-overdue">${o.overdue}</b></div>
    </div>
    <div class="grid2">
      <section><h2>${esc(t("byRegion"))}</h2><div id="by-region">${o.children.length ? "" : `<p class="muted">${esc(regionName(region))}</p>`}</div></section>
      <section><h2>${esc(t("weekly"))}</h2>${line(o.weekly.map((w) => ({ label: day(w.week_start_ms).slice(5), value: w.clues })))}</section>
      <section><h2>${esc(t("funnel"))}</h2><table id="funnel">${[["clues", f.clues], ["verified", f.verified], ["confirmed", f.confirmed], ["suggested", f.suggested], ["adopted", f.adopted]]
        .map(([k, v]) => `<tr><th>${esc(t(k))}</th><td>${v}</td><td><svg width="220" height="12"><rect width="${f.clues ? (220 * v) / f.clues : 0}" height="12" fill="#b42318"/></svg></td></tr>`).join("")}</table></section>
      <section><h2>${esc(t("topModels"))}</h2><table id="top-models"><tr><th>${esc(t("model"))}</th><th>${esc(t("clues"))}</th><th>${esc(t("confirmed"))}</th><th>${esc(t("rate"))}</th></tr>
        ${o.top_models.map((m) => `<tr><td>${esc(m.model)}</td><td>${m.clues}</td><td>${m.confirmed}</td><td>${pct(m.confirmed_rate)}</td></tr>`).join("")}</table></section>
    </div>`;
  if (o.children.length) {
    $("#by-region").appendChild(bars(o.children.map((c) => ({ code: c.code, label: regionName(c.code), value: c.clues })), (code) => { location.hash = `#/overview?region=${code}`; }));
  }
  main().querySelectorAll("[data-region]").forEach((a) => a.addEventListener("click", () => { location.hash = `#/overview?region=${a.dataset.region}`; }));
}

const STATUSES = ["new", "assigned", "verifying", "confirmed", "case_filed", "suggestion_issued", "transferred", "dismissed"];
const REASONS = ["data_error", "already_handled", "no_violation", "duplicate", "other"];

async function queue(params) {
  const q = new URLSearchParams(params);
  if (!q.get("limit")) q.set("limit", "50");
  const page = await api("GET", `/clues?${q}`);
  const offset = Number(q.get("offset") || 0), limit = Number(q.get("limit"));
  const opt = (v, cur, label) => `<option value="${esc(v)}" ${v === cur ? "selected" : ""}>${esc(label ?? v)}</option>`;
  main().innerHTML = `<h1>${esc(t("nav.clues"))}</h1>
    <form class="filters" id="filters">
      <label>${esc(t("status"))}<select name="status">${opt("", q.get("status") || "", t("all"))}${STATUSES.map((s) => opt(s, q.get("status") || "")).join("")}</select></label>
      <label>${esc(t("region"))}<select name="region">${opt("", q.get("region") || "", t("all"))}${[...state.regions.values()].filter((r) => r.level !== "province" && r.code !== state.me.region).map((r) => opt(r.code, q.get("region") || "", r.name)).join("")}</select></label>
      <label>${esc(t("minScore"))}<input name="min_score" type="number" step="0.1" min="0" max="1" value="${esc(q.get("min_score") || "")}"></label>
      <label>${esc(t("text"))}<input name="text" value="${esc(q.get("text") || "")}"></label>
      <label>${esc(t("sort"))}<select name="sort">${["last-seen", "score", "first-seen", "due"].map((s) => opt(s, q.get("sort") || "last-seen")).join("")}</select></label>
      <button class="primary" type="submit">${esc(t("filter"))}</button>
    </form>
    <div class="actions" id="bulk">
      <span class="muted">${esc(t("selected"))}: <b id="selected-count">0</b></span>
      <input id="assign-to" placeholder="${esc(t("assignTo"))}"><button type="button" id="bulk-assign">${esc(t("assign"))}</button>
      <select id="dismiss-reason">${REASONS.map((r) => opt(r, "")).join("")}</select><button type="button" id="bulk-dismiss">${esc(t("dismiss"))}</button>
      <span class="muted">${esc(t("keys"))}</span>
    </div>
    <p class="error" id="queue-error"></p>
    <table id="queue"><tr><th></th><th>#</th><th>${esc(t("model"))}</th><th>${esc(t("region"))}</th><th>${esc(t("status"))}</th><th>${esc(t("score"))}</th><th>${esc(t("reason"))}</th><th>${esc(t("assignee"))}</th><th>${esc(t("due"))}</th></tr>
    ${page.clues.map((c) => `<tr class="clickable" data-id="${c.id}"><td><input type="checkbox" data-id="${c.id}"></td><td>${c.id}</td><td>${esc(c.model || c.source)}</td><td>${esc(regionName(c.region))}</td>
      <td><span class="status">${esc(c.status)}</span></td><td>${c.score.toFixed(2)}</td><td>${esc(c.reason)}</td><td>${esc(c.assignee || "")}</td><td>${day(c.handling_due_ms)}</td></tr>`).join("")}</table>
    <p class="actions"><button type="button" id="prev" ${offset ? "" : "disabled"}>${esc(t("prev"))}</button>
      <span id="total">${offset + 1}–${offset + page.clues.length} ${esc(t("of"))} ${page.total}${page.total_exact ? "" : "+"}</span>
      <button type="button" id="next" ${offset + limit < page.total ? "" : "disabled"}>${esc(t("next"))}</button></p>`;
  const go = (changes) => { const n = new URLSearchParams(q); for (const [k, v] of Object.entries(changes)) v === "" ? n.delete(k) : n.set(k, v); location.hash = `#/clues?${n}`; };
  $("#filters").addEventListener("submit", (e) => { e.preventDefault(); const f = new FormData(e.target); go({ ...Object.fromEntries(f), offset: "0" }); });
  $("#prev").addEventListener("click", () => go({ offset: String(Math.max(0, offset - limit)) }));
  $("#next").addEventListener("click", () => go({ offset: String(offset + limit) }));
  const boxes = () => [...main().querySelectorAll("#queue input[type=checkbox]")];
  const chosen = () => boxes().filter((b) => b.checked).map((b) => Number(b.dataset.id));
  const count = () => { $("#selected-count").textContent = chosen().length; };
  boxes().forEach((b) => b.addEventListener("change", count));
  main().querySelectorAll("#queue tr[data-id] td:not(:first-child)").forEach((td) => td.addEventListener("click", () => { location.hash = `#/clues/${td.parentElement.dataset.id}`; }));
  const bulk = async (body) => {
    try { await api("POST", "/clues/actions", { ids: chosen(), ...body }); route(); } catch (err) { $("#queue-error").textContent = err.message; }
  };
  $("#bulk-assign").addEventListener("click", () => bulk({ action: "assign", to: $("#assign-to").value }));
  $("#bulk-dismiss").addEventListener("click", () => bulk({ action: "dismiss", reason: $("#dismiss-reason").value, note: "" }));
  let cursor = 0;
  const rows = () => [...main().querySelectorAll("#queue tr[data-id]")];
  const mark = () => rows().forEach((r, k) => r.classList.toggle("cursor", k === cursor));
  mark();
  state.keys = (e) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) return;
    const r = rows();
    if (e.key === "j") cursor = Math.min(r.length - 1, cursor + 1);
    else if (e.key === "k") cursor = Math.max(0, cursor - 1);
    else if (e.key === "x" && r[cursor]) { const b = r[cursor].querySelector("input"); b.checked = !b.checked; count(); }
    else if ((e.key === "o" || e.key === "Enter") && r[cursor]) { location.hash = `#/clues/${r[cursor].dataset.id}`; return; }
    else return;
    mark();
  };
}

// A field's value as the model emitted it: {"Date": days}, {"Decimal": ten-thousandths}, …
function value(v) {
  if (v === null || typeof v !== "object") return esc(v);
  const [kind, x] = Object.entries(v)[0] || [];
  if (kind === "Date") return day(x * 86400000);
  if (kind === "Decimal") return (x / 10000).toFixed(2);
  if (kind === "Pseudonym") return `<span class="muted" title="pseudonym">●●●●</span>`;
  if (kind === "Timestamp") return esc(new Date(x).toISOString());
  return esc(x);
}

// Evidence rows grouped by dataset, one table each, one row per source row.
function evidence(rows) {
  if (!rows.length) return `<p class="muted">${esc(t("none"))}</p>`;
  const groups = new Map();
  rows.forEach((r) => { if (!groups.has(r.dataset)) groups.set(r.dataset, []); groups.get(r.dataset).push(r); });
  return [...groups.entries()].map(([dataset, list]) => {
    const names = [...new Set(list.flatMap((r) => (r.fields || []).map((f) => f.name)))];
    return `<h3>${esc(dataset)}</h3><table class="evidence"><tr><th>key</th>${names.map((n) => `<th>${esc(n)}</th>`).join("")}</tr>
      ${list.map((r) => `<tr><td>${esc((r.row_keys || []).join(", "))}</td>${names.map((n) => `<td>${value(((r.fields || []).find((f) => f.name === n) || {}).value)}</td>`).join("")}</tr>`).join("")}</table>`;
  }).join("");
}

// An event's change in one line: "new → assigned (li)", or its note.
function change(d) {
  if (!d) return "";
  const from = d.old || {}, to = d.new || {};
  const parts = [];
  if (from.status !== to.status && to.status) parts.push(`${from.status || "–"} → ${to.status}`);
  if (to.assignee && from.assignee !== to.assignee) parts.push(`(${to.assignee})`);
  if (d.dismiss_reason) parts.push(d.dismiss_reason);
  if (d.note) parts.push(d.note);
  return parts.join(" ");
}

async function clue(id) {
  const d = await api("GET", `/clues/${id}`);
  const c = d.clue;
  const actions = d.next || [];
  main().innerHTML = `<p><a href="#/clues">← ${esc(t("back"))}</a></p>
    <h1>#${c.id} · ${esc(c.reason)}</h1>
    <p><span class="status" id="clue-status">${esc(c.status)}</span> · ${esc(c.model || c.source)} · ${esc(regionName(c.region))} · ${esc(t("score"))} ${c.score.toFixed(2)} · ${esc(t("assignee"))} ${esc(c.assignee || "–")} · ${esc(t("due"))} ${day(c.handling_due_ms)}</p>
    <h2>${esc(t("subject"))}</h2><p>${esc(c.subject_type)} <code>${esc(c.subject_name || c.subject_id)}</code>
      ${state.me.role === "reviewer" ? `<button type="button" id="identify">${esc(t("identify"))}</button> <span class="muted">${esc(t("identityLogged"))}</span>` : ""}</p>
    <div id="identity"></div>
    <h2>${esc(t("nextActions"))}</h2>
    <div class="actions" id="clue-actions">
      <input id="act-to" placeholder="${esc(t("assignTo"))}" value="${esc(state.me.username)}">
      ${["assign", "verify", "confirm", "file-case", "transfer"].map((a) => `<button type="button" data-action="${a}" ${actions.length && !actions.includes(a) ? "disabled" : ""}>${esc(t(a === "file-case" ? "fileCase" : a))}</button>`).join("")}
      <select id="act-reason">${REASONS.map((r) => `<option>${r}</option>`).join("")}</select>
      <input id="act-note" placeholder="${esc(t("note"))}">
      <button type="button" data-action="dismiss" ${actions.length && !actions.includes("dismiss") ? "disabled" : ""}>${esc(t("dismiss"))}</button>
    </div><p class="error" id="clue-error"></p>
    <h2>${esc(t("evidence"))}</h2><div id="evidence">${evidence(d.evidence || [])}</div>
    <h2>${esc(t("timeline"))}</h2><ul class="timeline" id="timeline">${(d.timeline || []).map((e) => `<li>${day(e.at_ms)} <b>${esc(e.actor)}</b> ${esc(e.action)} ${esc(change(e.detail))}</li>`).join("")}</ul>
    <h2>${esc(t("comments"))}</h2><ul id="comments">${(d.comments || []).map((m) => `<li>${day(m.at_ms)} <b>${esc(m.actor)}</b> ${esc(m.text)}</li>`).join("")}</ul>
    <form class="actions" id="comment-form"><input name="text" required><button type="submit">${esc(t("comment"))}</button></form>`;
  main().querySelectorAll("#clue-actions button").forEach((b) => b.addEventListener("click", async () => {
    const a = b.dataset.action, body = { ids: [c.id], action: a };
    if (a === "assign") body.to = $("#act-to").value;
    if (a === "dismiss") { body.reason = $("#act-reason").value; body.note = $("#act-note").value; }
    if (a === "confirm" || a === "file-case") body.note = $("#act-note").value || "–";
    if (a === "transfer") body.agency = $("#act-note").value;
    try { await api("POST", "/clues/actions", body); clue(id); } catch (err) { $("#clue-error").textContent = err.message; }
  }));
  const who = $("#identify");
  if (who) who.addEventListener("click", async () => {
    try {
      const r = await api("POST", `/clues/${c.id}/identity`);
      $("#identity").innerHTML = r.found.length
        ? `<table id="identity-table"><tr><th>${esc(t("dataset"))}</th><th></th></tr>${r.found.map((f) => `<tr><td>${esc(f.dataset)}</td><td>${Object.entries(f.fields).map(([k, v]) => `${esc(k)}: <b>${esc(v)}</b>`).join(" · ")}</td></tr>`).join("")}</table>`
        : `<p class="muted">${esc(r.pseudonymous ? t("notFound") : r.subject_id)}</p>`;
      who.disabled = true;
    } catch (err) { $("#clue-error").textContent = err.message; }
  });
  $("#comment-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await api("POST", `/clues/${c.id}/comments`, { text: new FormData(e.target).get("text") }); clue(id); } catch (err) { $("#clue-error").textContent = err.message; }
  });
}

// Per-model feedback for the whole province (authors see no clue statistics).
async function feedbackByModel(model) {
  if (state.me.role === "author") return new Map();
  const rows = await api("GET", `/stats/feedback?level=province${model ? `&model=${encodeURIComponent(model)}` : ""}`);
  const out = new Map();
  rows.filter((r) => r.source === "model").forEach((r) => {
    const m = out.get(r.model) || { clues: 0, verified: 0, confirmed: 0, suggestions: 0, adopted: 0 };
    for (const k of Object.keys(m)) m[k] += r[k];
    out.set(r.model, m);
  });
  for (const m of out.values()) {
    m.confirmed_rate = m.verified ? m.confirmed / m.verified : null;
    m.adoption_rate = m.suggestions ? m.adopted / m.suggestions : null;
  }
  return out;
}

const readText = (file) => (file && file.size ? file.text() : Promise.resolve(""));

async function models() {
  const [versions, enablements, fb] = await Promise.all([api("GET", "/versions"), api("GET", "/enablements"), feedbackByModel()]);
  const byModel = new Map();
  versions.forEach((v) => { if (!byModel.has(v.model)) byModel.set(v.model, []); byModel.get(v.model).push(v); });
  const publisher = state.me.role === "author" || state.me.role === "admin";
  main().innerHTML = `<h1>${esc(t("nav.models"))}</h1><p class="error" id="model-error"></p>
    <table id="catalogue"><tr><th>${esc(t("model"))}</th><th>${esc(t("office"))}</th><th>${esc(t("versions"))}</th><th>${esc(t("enabledIn"))}</th><th>${esc(t("clues"))}</th><th>${esc(t("rate"))}</th><th>${esc(t("adoption"))}</th></tr>
    ${[...byModel.entries()].map(([m, vs]) => { const f = fb.get(m) || {}; return `<tr><td><a href="#/models/${encodeURIComponent(m)}" data-model="${esc(m)}"><b>${esc(m)}</b></a><br><span class="muted">${esc((vs[0].manifest || {}).summary || "")}</span></td><td>${esc(regionName(vs[0].office))}</td>
      <td>${vs.map((v) => `${esc(v.version)} <span class="status">${esc(v.status)}</span>`).join("<br>")}</td>
      <td>${enablements.filter((e) => e.model === m && e.status === "enabled").map((e) => `${esc(e.version)}: ${e.regions.map(regionName).map(esc).join(", ")}`).join("<br>") || "–"}</td>
      <td>${f.clues ?? "–"}</td><td>${pct(f.confirmed_rate)}</td><td>${pct(f.adoption_rate)}</td></tr>`; }).join("")}</table>
    ${publisher ? `<h2>${esc(t("publish"))}</h2><form class="filters" id="publish">
      <label>${esc(t("component"))}<input type="file" name="component" accept=".wasm" required></label>
      <label>${esc(t("signature"))}<input type="file" name="signature" accept=".sig" required></label>
      <label>${esc(t("publicKey"))}<input name="public_key" size="66" required></label>
      <button class="primary" type="submit">${esc(t("publish"))}</button></form><pre id="publish-report"></pre>` : ""}`;
  const form = $("#publish");
  if (form) form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form), body = new FormData();
    body.append("component", f.get("component"));
    body.append("signature", (await readText(f.get("signature"))).trim());
    body.append("public_key", String(f.get("public_key")).trim());
    try {
      const r = await api("POST", "/versions", body);
      location.hash = `#/models/${encodeURIComponent(r.version.split("@")[0])}`;
    } catch (err) { $("#publish-report").className = "error"; $("#publish-report").textContent = `${t("failed")}: ${err.message}`; }
  });
}

// One model: what it reads and asks for, its versions and enablements with the admin's
// actions (review, enable, upgrade, roll back, disable), its results and its history.
async function modelPage(id) {
  const q = `?model=${encodeURIComponent(id)}`;
  const [versions, enablements, fb] = await Promise.all([api("GET", `/versions${q}`), api("GET", `/enablements${q}`), feedbackByModel(id)]);
  if (!versions.length) throw new Error(`${t("notFound")}: ${id}`);
  const latest = versions.reduce((a, b) => (b.id > a.id ? b : a)), m = latest.manifest || {};
  const admin = state.me.role === "admin";
  const approved = versions.filter((v) => v.status === "approved").map((v) => v.version);
  const sheets = await Promise.all(versions.filter((v) => v.status === "submitted").map((v) => api("GET", `/versions/${encodeURIComponent(id)}/${encodeURIComponent(v.version)}`)));
  let history = [];
  if (admin || state.me.role === "auditor") {
    const subjects = [...versions.map((v) => `${id}@${v.version}`), ...enablements.map((e) => `enablement ${e.id}`)];
    history = (await Promise.all(subjects.map((s) => api("GET", `/audit?limit=100&subject=${encodeURIComponent(s)}`)))).flat().sort((a, b) => b.id - a.id);
  }
  const f = fb.get(id) || {};
  const opt = (v) => `<option>${esc(v)}</option>`;
  main().innerHTML = `<p><a href="#/models">← ${esc(t("nav.models"))}</a></p>
    <h1 id="model-title">${esc(m.name || id)} <span class="muted">${esc(id)}</span></h1>
    <p>${esc(m.summary || "")}</p>
    <div class="cards"><div class="card"><span>${esc(t("office"))}</span><b>${esc(regionName(latest.office))}</b></div>
      <div class="card"><span>${esc(t("clues"))}</span><b>${f.clues ?? "–"}</b></div>
      <div class="card"><span>${esc(t("rate"))}</span><b>${pct(f.confirmed_rate)}</b></div>
      <div class="card"><span>${esc(t("adoption"))}</span><b>${pct(f.adoption_rate)}</b></div></div>
    <p class="error" id="model-error"></p>
    <h2>${esc(t("versions"))}</h2>
    <table id="versions"><tr><th>${esc(t("versions"))}</th><th>${esc(t("status_"))}</th><th>${esc(t("submittedBy"))}</th><th>${esc(t("reviewedBy"))}</th><th>sha256</th><th></th></tr>
    ${versions.map((v) => `<tr data-version="${esc(v.version)}"><td>${esc(v.version)}</td><td><span class="status">${esc(v.status)}</span></td><td>${esc(v.submitted_by)}</td>
      <td>${esc(v.reviewed_by || "–")} <span class="muted">${esc(v.review_reason || "")}</span></td><td><code>${esc(v.sha256.slice(0, 12))}</code></td>
      <td>${admin && v.status === "submitted" ? `<button type="button" data-decide="approve">${esc(t("approve"))}</button> <button type="button" data-decide="reject">${esc(t("reject"))}</button>` : ""}</td></tr>`).join("")}</table>
    ${sheets.map((sh) => `<p class="review-sheet"><b>${esc(sh.version.version)}</b> ${sh.previous ? `(← ${esc(sh.previous)})` : ""} ${esc(t("scopeAdded"))}: ${esc(sh.scope_added.join(", ") || "–")} · ${esc(t("scopeRemoved"))}: ${esc(sh.scope_removed.join(", ") || "–")}</p>`).join("")}
    ${admin ? `<p class="actions"><input id="review-reason" placeholder="${esc(t("reviewReason"))}" value="reviewed in the dashboard"></p>` : ""}
    <h2>${esc(t("manifest"))} ${esc(latest.version)}</h2>
    <h3>${esc(t("datasetsRead"))}</h3>
    <table id="scope"><tr><th>${esc(t("dataset"))}</th><th>${esc(t("purpose"))}</th><th>${esc(t("columns"))}</th></tr>
      ${(m.datasets || []).map((d) => `<tr><td>${esc(d.name)}</td><td>${esc(d.purpose)}</td><td>${d.columns.map((c) => `${esc(c.name)} <span class="muted">${esc(c.type_)}</span>`).join(", ")}</td></tr>`).join("")}</table>
    <h3>${esc(t("params"))}</h3>
    <table id="params"><tr><th></th><th>${esc(t("defaultValue"))}</th><th></th></tr>
      ${(m.parameters || []).map((p) => `<tr><td>${esc(p.name)} <span class="muted">${esc(p.type_)}</span></td><td>${value(p.default)}</td><td>${esc(p.description)}</td></tr>`).join("") || `<tr><td colspan="3" class="muted">${esc(t("none"))}</td></tr>`}</table>
    <h3>${esc(t("clueKinds"))}</h3><ul>${(m.clue_kinds || []).map((k) => `<li><b>${esc(k.id)}</b> ${esc(k.description)}</li>`).join("")}</ul>
    <h2>${esc(t("enablements"))}</h2>
    <table id="enablements"><tr><th>#</th><th>${esc(t("versions"))}</th><th>${esc(t("regions"))}</th><th>${esc(t("status_"))}</th><th></th></tr>
    ${enablements.map((e) => `<tr data-enablement="${e.id}"><td>${e.id}</td><td>${esc(e.version)}</td><td>${e.regions.map(regionName).map(esc).join(", ")}</td><td><span class="status">${esc(e.status)}</span></td>
      <td>${admin && e.status === "enabled" ? `<select class="upgrade-to">${approved.filter((v) => v !== e.version).map(opt).join("")}</select><button type="button" data-change="upgrade">${esc(t("upgrade"))}</button>
        <button type="button" data-change="rollback">${esc(t("rollback"))}</button> <button type="button" data-change="disable">${esc(t("disable"))}</button>` : ""}</td></tr>`).join("") || `<tr><td colspan="5" class="muted">${esc(t("none"))}</td></tr>`}</table>
    ${admin && approved.length ? `<form class="filters" id="enable-form"><label>${esc(t("versions"))}<select name="version">${approved.map(opt).join("")}</select></label>
      <label>${esc(t("regions"))}<select name="regions" multiple size="4">${[...state.regions.values()].map((r) => `<option value="${esc(r.code)}">${esc(r.name)}</option>`).join("")}</select></label>
      <button class="primary" type="submit">${esc(t("enable"))}</button></form>` : ""}
    ${history.length ? `<h2>${esc(t("history"))}</h2><ul class="timeline" id="history">${history.map((e) => `<li>${day(e.at_ms)} <b>${esc(e.actor)}</b> ${esc(e.action)} ${esc(e.subject)} <span class="muted">${esc(e.detail.reason || e.detail.to || "")}</span></li>`).join("")}</ul>` : ""}`;
  const fail = (err) => { $("#model-error").textContent = err.message; };
  const reason = () => ($("#review-reason") || {}).value || "changed in the dashboard";
  const act = (fn) => async () => { try { await fn(); await modelPage(id); } catch (err) { fail(err); } };
  main().querySelectorAll("[data-decide]").forEach((b) => b.addEventListener("click", act(() => {
    const v = b.closest("tr").dataset.version;
    return api("POST", `/versions/${encodeURIComponent(id)}/${encodeURIComponent(v)}/decision`, { approve: b.dataset.decide === "approve", reason: reason() });
  })));
  main().querySelectorAll("[data-change]").forEach((b) => b.addEventListener("click", act(() => {
    const row = b.closest("tr"), body = { action: b.dataset.change, reason: reason() };
    if (body.action === "upgrade") body.to = row.querySelector(".upgrade-to").value;
    return api("POST", `/enablements/${row.dataset.enablement}/changes`, body);
  })));
  const form = $("#enable-form");
  if (form) form.addEventListener("submit", (e) => {
    e.preventDefault();
    const regions = [...form.querySelector("select[name=regions]").selectedOptions].map((o) => o.value);
    act(() => api("POST", "/enablements", { version: `${id}@${form.querySelector("select[name=version]").value}`, regions, reason: reason() }))();
  });
}

async function runs() {
  const list = await api("GET", "/runs?limit=100");
  main().innerHTML = `<h1>${esc(t("nav.runs"))}</h1><table id="runs"><tr><th>#</th><th>${esc(t("model"))}</th><th>${esc(t("region"))}</th><th>${esc(t("outcome"))}</th><th>${esc(t("clues"))}</th><th>${esc(t("duration"))}</th></tr>
    ${list.map((r) => `<tr><td>${r.id}</td><td>${esc(r.model)} ${esc(r.version || "")}</td><td>${esc(regionName(r.region))}</td><td><span class="status">${esc(r.status)}</span> ${esc(r.error || "")}</td><td>${r.clues_emitted ?? "–"}</td><td>${r.wall_ms ?? "–"} ms</td></tr>`).join("")}</table>`;
}

// The data page; `report` is the outcome of the upload just made, shown above the lists.
async function datasets(report) {
  const list = await api("GET", "/datasets");
  const history = state.me.role === "admin" || state.me.role === "auditor";
  const [imports, failed] = history ? await Promise.all([api("GET", "/imports?limit=50"), api("GET", "/imports/failures?limit=20")]) : [[], []];
  main().innerHTML = `<h1>${esc(t("nav.datasets"))}</h1>
    <table id="datasets"><tr><th>${esc(t("dataset"))}</th><th>${esc(t("imports"))}</th><th>${esc(t("rows"))}</th><th></th></tr>
    ${list.map((d) => `<tr><td><b>${esc(d.name)}</b> v${d.version}</td><td>${d.imports}</td><td>${d.rows}</td><td class="muted">${esc(d.description)}</td></tr>`).join("")}</table>
    ${state.me.role === "admin" ? `<h2>${esc(t("upload"))}</h2><form class="filters" id="upload"><label>${esc(t("dataset"))}<select name="dataset">${list.map((d) => `<option>${esc(d.name)}</option>`).join("")}</select></label>
      <label>${esc(t("file"))}<input type="file" name="file" required></label><button class="primary" type="submit">${esc(t("upload"))}</button></form><pre class="${report && report.ok ? "ok" : "error"}" id="upload-report">${esc(report ? report.text : "")}</pre>` : ""}
    <h2>${esc(t("imports"))}</h2><table id="imports"><tr><th>#</th><th>${esc(t("dataset"))}</th><th>${esc(t("file"))}</th><th>${esc(t("rows"))}</th><th></th></tr>
    ${imports.map((i) => `<tr><td>${i.id}</td><td>${esc(i.dataset)}</td><td>${esc(i.file_name)}</td><td>${i.rows}</td><td>${day(i.imported_at_ms)} ${esc(i.imported_by)}</td></tr>`).join("")}</table>
    ${failed.length ? `<h2>${esc(t("failedImports"))}</h2><table id="failed-imports"><tr><th>${esc(t("dataset"))}</th><th>${esc(t("file"))}</th><th>${esc(t("problems"))}</th><th></th></tr>
    ${failed.map((f) => `<tr><td>${esc(f.dataset)}</td><td>${esc(f.file_name)}</td><td>${esc(f.error)}<ul>${f.problems.slice(0, 5).map((p) => `<li>line ${p.line} ${esc(p.column)} “${esc(p.value)}”: ${esc(p.reason)}</li>`).join("")}</ul></td><td>${day(f.failed_at_ms)} ${esc(f.failed_by)}</td></tr>`).join("")}</table>` : ""}`;
  const form = $("#upload");
  if (form) form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form), name = f.get("dataset"), body = new FormData();
    body.append("file", f.get("file"));
    try {
      const r = await api("POST", `/datasets/${encodeURIComponent(name)}/imports`, body);
      await datasets({ ok: true, text: `${t("done")}: ${r.rows} ${t("rows")}` });
    } catch (err) {
      const problems = ((err.details || {}).problems || []).map((p) => `line ${p.line} ${p.column} “${p.value}”: ${p.reason}`);
      await datasets({ ok: false, text: [`${t("failed")}: ${err.message}`, ...problems].join("\n") });
    }
  });
}

async function route() {
  state.route += 1;
  state.keys = null;
  if (!allowed(location.hash)) { location.hash = home(); return; }
  applyStatic();
  const [path, query] = location.hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  try {
    if (parts[0] === "clues" && parts[1]) await clue(Number(parts[1]));
    else if (parts[0] === "clues") await queue(params);
    else if (parts[0] === "models" && parts[1]) await modelPage(decodeURIComponent(parts[1]));
    else if (parts[0] === "models") await models();
    else if (parts[0] === "runs") await runs();
    else if (parts[0] === "datasets") await datasets();
    else await overview(params);
  } catch (err) {
    if (err.message !== "unauthenticated" && err.message !== "stale") main().innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

document.addEventListener("keydown", (e) => { if (state.keys) state.keys(e); });
window.addEventListener("hashchange", () => { if (state.me) route(); });
$("#logout").addEventListener("click", async () => {
  try { await api("DELETE", "/session"); } catch (_) { /* already out */ }
  sessionStorage.removeItem("csrf");
  showLogin();
});
$("#lang").addEventListener("click", async () => {
  const next = state.locale === "zh-CN" ? "en" : "zh-CN";
  try { await api("PUT", "/me/locale", { locale: next }); } catch (_) { /* kept for this page */ }
  state.locale = next;
  route();
});

api("GET", "/me").then((m) => start(m.user)).catch(() => showLogin());
