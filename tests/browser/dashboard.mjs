// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core.
// Logs in as each role, walks the pages, drills down province → city → county, opens a clue,
// re-identifies its subject, assigns, verifies and dismisses; the author publishes two signed
// versions of a model from the browser and the admin reviews, enables, upgrades and rolls it
// back from the model's page; a bad upload is reported and listed. Asserts what each page
// shows, that no request leaves this server, and saves a screenshot of every page.
// Usage: node dashboard.mjs URL DEMO_JSON OUTDIR WORKDIR PUBLIC_KEY (WORKDIR holds
// test_versioned_{100,110}.wasm and their .wasm.sig files, signed with PUBLIC_KEY's office key)
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";

const [base, demoFile, out, work, publicKey] = process.argv.slice(2);
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
  await page.waitForSelector(users[name].role === "author" ? "#catalogue" : "#kpi-clues");
  return { context, page };
}

// The overview of a region `n` levels down has been drawn: its breadcrumbs and figures are
// written together once its data has come, so the previous region's figures are gone.
const levels = (page, n) =>
  page.waitForFunction((n) => (document.querySelector("h1.crumbs")?.textContent || "").split("›").length === n, n);
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
  await levels(page, 2);
  const cityClues = await number(page, "#kpi-clues");
  check(cityClues === city && cityClues <= province, `admin: the city's total (${cityClues}) is its bar (${city}), within the province (${province})`);
  await shot(page, "overview-city");
  const county = await page.$("#by-region .bar");
  const countyCode = await county.getAttribute("data-code");
  await county.click();
  await page.waitForFunction((c) => location.hash.includes(c), countyCode);
  await levels(page, 3);
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
  const rates = await page.$$eval("#catalogue tr td:nth-child(5)", (tds) => tds.map((td) => Number(td.textContent)));
  check(rates.every((n) => n > 0), `admin: clues per model in the catalogue (${rates})`);
  await shot(page, "models");
  // A page left before its read answered never draws over the page that followed it: the
  // overview's read held back, the user moves on to the models before it answers.
  const slow = (route) => setTimeout(() => route.continue(), 800);
  await page.route("**/api/v1/stats/overview*", slow);
  await page.goto(`${base}#/overview`);
  await page.goto(`${base}#/models`);
  await page.waitForSelector("#catalogue");
  await page.waitForTimeout(1500);
  check((await page.$("#catalogue")) !== null && (await page.$("h1.crumbs")) === null, "admin: a slow page left behind does not replace the next one");
  await page.unroute("**/api/v1/stats/overview*", slow);
  await page.click('#catalogue a[data-model="pension-after-death"]');
  await page.waitForSelector("#scope");
  const scope = await page.textContent("#scope");
  check(scope.includes("death_registrations") && scope.includes("pension_payments"), "admin: the model page shows its data scope");
  check((await page.textContent("#params")).includes("grace_days"), "admin: … its parameters");
  check((await page.textContent("#history")).includes("model.approve"), "admin: … and its history");
  await shot(page, "model");
  await page.goto(`${base}#/runs`);
  await page.waitForSelector("#runs");
  check((await page.textContent("#runs")).includes("succeeded"), "admin: run records with outcomes");
  await shot(page, "runs");
  await page.goto(`${base}#/datasets`);
  await page.waitForSelector("#imports");
  check((await page.$$("#datasets tr")).length === 14, "admin: thirteen datasets");
  await page.selectOption("#upload select[name=dataset]", "pension_payments");
  await page.setInputFiles("#upload input[type=file]", { name: "bad payments.csv", mimeType: "text/csv",
    buffer: Buffer.from("payment_id,id_number,pay_date,amount,region_code\nP-x,110105194912310021,2024-13-01,12.00,330102\n") });
  await page.click("#upload button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#upload-report").textContent.length > 0);
  check((await page.textContent("#upload-report")).includes("pay_date"), "admin: a bad upload's report names the column");
  await page.waitForSelector("#failed-imports");
  check((await page.textContent("#failed-imports")).includes("bad_payments.csv"), "admin: the failed import is listed with its errors");
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
  await page.click("#identify");
  await page.waitForSelector("#identity table, #identity p");
  const identity = await page.textContent("#identity");
  check(/\d{17}[\dXx]/.test(identity) || /[0-9A-Z]{18}/.test(identity), `reviewer: the subject re-identified (${identity.slice(0, 60)})`);
  await page.click("#clue-actions button[data-action=assign]");
  await page.waitForFunction(() => document.querySelector("#clue-status").textContent === "assigned");
  await page.click("#clue-actions button[data-action=verify]");
  await page.waitForFunction(() => document.querySelector("#clue-status").textContent === "verifying");
  const timeline = await page.textContent("#timeline");
  check(timeline.includes("clue.verify") && timeline.includes("clue.identify"), "reviewer: the timeline records the steps and the look");
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

// The author publishes two signed versions from the browser; clues are not theirs.
{
  const { context, page } = await session("author");
  check(await page.isHidden('header nav a[href="#/clues"]'), "author: no clue pages");
  for (const v of ["100", "110"]) {
    await page.goto(`${base}#/models`);
    await page.waitForSelector("#publish");
    await page.setInputFiles("#publish input[name=component]", `${work}/test_versioned_${v}.wasm`);
    await page.setInputFiles("#publish input[name=signature]", `${work}/test_versioned_${v}.wasm.sig`);
    await page.fill("#publish input[name=public_key]", publicKey);
    await page.click("#publish button[type=submit]");
    await page.waitForSelector(`#versions tr[data-version="${v[0]}.${v[1]}.${v[2]}"]`);
  }
  check((await page.textContent("#versions")).match(/submitted/g).length === 2, "author: two versions submitted for review");
  await shot(page, "model-published");
  await context.close();
}

// The admin reviews both, enables 1.0.0 for Shangcheng, upgrades to 1.1.0 and rolls back.
{
  const { context, page } = await session("admin");
  await page.goto(`${base}#/models/test-versioned`);
  await page.waitForSelector("#versions");
  check((await page.$$(".review-sheet")).length === 2, "admin: a review sheet per submitted version");
  for (const v of ["1.0.0", "1.1.0"]) {
    await page.click(`#versions tr[data-version="${v}"] button[data-decide=approve]`);
    await page.waitForFunction((v) => document.querySelector(`#versions tr[data-version="${v}"] .status`).textContent === "approved", v);
  }
  await page.selectOption("#enable-form select[name=version]", "1.0.0");
  await page.selectOption("#enable-form select[name=regions]", ["330102"]);
  await page.click("#enable-form button[type=submit]");
  await page.waitForSelector("#enablements tr[data-enablement]");
  const version = () => page.textContent("#enablements tr[data-enablement] td:nth-child(2)");
  check(await version() === "1.0.0", "admin: enabled 1.0.0 from the model page");
  await page.selectOption("#enablements .upgrade-to", "1.1.0");
  await page.click("#enablements button[data-change=upgrade]");
  await page.waitForFunction(() => document.querySelector("#enablements tr[data-enablement] td:nth-child(2)").textContent === "1.1.0");
  check(true, "admin: upgraded to 1.1.0");
  await page.click("#enablements button[data-change=rollback]");
  await page.waitForFunction(() => document.querySelector("#enablements tr[data-enablement] td:nth-child(2)").textContent === "1.0.0");
  const history = await page.textContent("#history");
  check(["model.publish", "model.approve", "enablement.enable", "enablement.upgrade", "enablement.rollback"].every((a) => history.includes(a)), "admin: rolled back, and the history has every step");
  await shot(page, "model-lifecycle");
  await context.close();
}

// The auditor reads the province; a city reviewer reads their city.
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
