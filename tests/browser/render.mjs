// Page render times of the dashboard in Debian's headless Chromium: logs in as each given
// user, then for several rounds opens every page by its address and measures, inside the
// page, from the navigation to the moment the page's content is in the document and a frame
// has been drawn (data fetched, table built). Prints one JSON object:
// {"pages": [{"user", "page", "samples": [ms…]}]}.
// Usage: node render.mjs URL ROUNDS USER:PASSWORD[:CLUE_ID] …
import { chromium } from "playwright-core";

const [base, rounds, ...logins] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
});
const out = [];
for (const login of logins) {
  const [user, password, clue] = login.split(":");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(base);
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForSelector("#kpi-clues");
  const pages = [
    ["overview", "#/overview", "#kpi-clues"],
    ["overview, a county", "#/overview?region=330102", "#kpi-clues"],
    ["clue queue", "#/clues", "#queue tr[data-id]"],
    ["clue queue, new by score", "#/clues?status=new&sort=score", "#queue tr[data-id]"],
    ["clue detail", `#/clues/${clue}`, "#clue-actions"],
    ["models", "#/models", "#catalogue"],
    ["runs", "#/runs", "#runs"],
    ["datasets", "#/datasets", "#datasets"],
  ];
  const samples = new Map(pages.map(([name]) => [name, []]));
  for (let r = 0; r <= Number(rounds); r++) {
    for (const [name, hash, selector] of pages) {
      const ms = await page.evaluate(([hash, selector]) => new Promise((resolve, reject) => {
        const main = document.querySelector("#main");
        main.innerHTML = "";
        const t0 = performance.now();
        const done = () => requestAnimationFrame(() => resolve(performance.now() - t0));
        const seen = new MutationObserver(() => {
          if (document.querySelector(selector)) { seen.disconnect(); done(); }
          else if (main.querySelector(".error")) { seen.disconnect(); reject(new Error(`${hash}: ${main.textContent}`)); }
        });
        seen.observe(main, { childList: true, subtree: true });
        // The same address again fires no hashchange: ask the app to render it anyway.
        if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
        else location.hash = hash;
      }), [hash, selector]);
      if (r > 0) samples.get(name).push(ms); // round 0 warms the server's and browser's caches
    }
  }
  // A cold load of the whole application: HTML, script, styles, session check, overview.
  const cold = [];
  for (let r = 0; r < Number(rounds); r++) {
    const t0 = Date.now();
    await page.goto(`${base}?r=${r}#/overview`);
    await page.waitForSelector("#kpi-clues");
    cold.push(Date.now() - t0);
  }
  samples.set("full load, overview", cold);
  for (const [name, list] of samples) out.push({ user, page: name, samples: list });
  await context.close();
}
await browser.close();
console.log(JSON.stringify({ pages: out }));
