// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core.
// Logs in as each role, walks the pages, drills down province → city → county, opens a clue,
// assigns, verifies and dismisses; asserts what each page shows, that no request leaves this
// server, and saves a screenshot of every page. Usage: node dashboard.mjs URL DEMO_JSON OUTDIR
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";

const [base, demoFile, out] = process.argv.slice(2);
const users = Object.fromEntries(JSON.parse(readFileSync(demoFile, "utf8")).users.map(([name, role, office, pass]) => [name, { role, office, pass }]));
mkdirSync(out, { recursive: true });
const origin = new URL(base).origin;
let failures = 0, passed = 0;
const check = (ok, what) => { if (ok) { passed++; } else { failures++; console.error(`FAIL: ${what}`); } };

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
});
const foreign = [];

async function session(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) foreign.push(r.url()); });
  page.on("pageerror", (e) => check(false, `${name}: script error ${e.message}`));
  await page.goto(base);
  await page.fill("input[name=username]", name);
  await page.fill("input[name=password]", users[name].pass);
  await page.click("button[type=submit]");
  await page.waitForSelector("#kpi-clues");
  return { context, page };
}

const shot = (page, name) => page.screenshot({ path: `${out}/${name}.png`, fullPage: true });
const number = async (page, sel) => Number((await page.textContent(sel)).replace(/[^0-9]/g, ""));

// The admin: the province, drill-down, the catalogue, runs and data.
{
  const { context, page } = await session("admin");
  check((await page.textContent("html")).includes("全省") || (await page.textContent("h1")).includes("浙江"), "admin: Chinese by default, the province first");
  const province = await number(page, "#kpi-clues");
  check(province > 0, `admin: the province has clues (${province})`);
  check((await page.$$("#by-region .bar")).length === 11, "admin: one bar per city");
  check((await page.$$("#top-models tr")).length >= 6, "admin: five models ranked");
  await shot(page, "overview-province");
  const bars = await page.$$("#by-region .bar");
  let city = 0, cityCode = "";
  for (const b of bars) { const v = Number(await b.evaluate((e) => e.textContent.split(":").pop())); if (v > city) { city = v; cityCode = await b.getAttribute("data-code"); } }
  await page.click(`#by-region .bar[data-code="${cityCode}"]`);
  await page.waitForFunction((c) => location.hash.includes(c), cityCode);
  await page.waitForSelector("#kpi-clues");
  const cityClues = await number(page, "#kpi-clues");
  check(cityClues === city && cityClues <= province, `admin: the city's total (${cityClues}) is its bar (${city}), within the province (${province})`);
  await shot(page, "overview-city");
  const county = await page.$("#by-region .bar");
  const countyCode = await county.getAttribute("data-code");
  await county.click();
  await page.waitForFunction((c) => location.hash.includes(c), countyCode);
  await page.waitForSelector("#kpi-clues");
  check(await number(page, "#kpi-clues") <= cityClues, "admin: the county within its city");
  check((await page.textContent("h1.crumbs")).split("›").length === 3, "admin: province › city › county");
  await shot(page, "overview-county");
  await page.click("#lang");
  await page.waitForFunction(() => document.documentElement.lang === "en");
  check((await page.textContent("header nav")).includes("Overview"), "admin: English on request");
  await page.click("#lang");
  await page.goto(`${base}#/models`);
  await page.waitForSelector("#catalogue");
  check((await page.$$("#catalogue tr")).length === 6, "admin: five models in the catalogue");
  await shot(page, "models");
  await page.goto(`${base}#/runs`);
  await page.waitForSelector("#runs");
  check((await page.textContent("#runs")).includes("succeeded"), "admin: run records with outcomes");
  await shot(page, "runs");
  await page.goto(`${base}#/datasets`);
  await page.waitForSelector("#imports");
  check((await page.$$("#datasets tr")).length === 14, "admin: thirteen datasets");
  await shot(page, "datasets");
  await context.close();
}

// A county reviewer: the queue, a clue, assign → verify, and a dismissal with a reason.
{
  const { context, page } = await session("reviewer");
  await page.goto(`${base}#/clues?status=new`);
  await page.waitForSelector("#queue tr[data-id]");
  const regions = await page.$$eval("#queue tr[data-id] td:nth-child(4)", (tds) => tds.map((td) => td.textContent));
  check(regions.every((r) => r === "上城区"), `reviewer: only Shangcheng's clues (${[...new Set(regions)]})`);
  await shot(page, "queue");
  await page.keyboard.press("j");
  await page.keyboard.press("k");
  await page.keyboard.press("o");
  await page.waitForSelector("#clue-actions");
  const id = (await page.textContent("h1")).match(/#(\d+)/)[1];
  check((await page.$$("#evidence table")).length >= 1, "reviewer: evidence as a table");
  await page.click("#clue-actions button[data-action=assign]");
  await page.waitForFunction(() => document.querySelector("#clue-status").textContent === "assigned");
  await page.click("#clue-actions button[data-action=verify]");
  await page.waitForFunction(() => document.querySelector("#clue-status").textContent === "verifying");
  check((await page.textContent("#timeline")).includes("clue.verify"), "reviewer: the timeline records the steps");
  await shot(page, "clue");
  await page.goto(`${base}#/clues?status=new`);
  await page.waitForSelector("#queue tr[data-id]");
  const other = await page.getAttribute("#queue tr[data-id]", "data-id");
  check(other !== id, "reviewer: the verified clue left the new queue");
  await page.goto(`${base}#/clues/${other}`);
  await page.waitForSelector("#clue-actions");
  await page.selectOption("#act-reason", "no_violation");
  await page.click("#clue-actions button[data-action=dismiss]");
  await page.waitForFunction(() => document.querySelector("#clue-status").textContent === "dismissed");
  check(true, "reviewer: dismissed with a reason");
  await context.close();
}

// The auditor and the author: the auditor reads the province; the author has no clues.
for (const name of ["auditor", "hangzhou"]) {
  const { context, page } = await session(name);
  check(await number(page, "#kpi-clues") > 0, `${name}: the overview`);
  await shot(page, `overview-${name}`);
  await context.close();
}

await browser.close();
check(foreign.length === 0, `no request left the server: ${foreign.slice(0, 3)}`);
console.log(`browser: ${passed} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
