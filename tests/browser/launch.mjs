// launch.mjs - drives Debian's chromium (headless, through puppeteer-core)
// through a SMART standalone launch of the test app (app/launch.html, which
// uses fhirclient) against fhird: opens the launch page, fills fhird's
// login form, approves the consent page and waits until the app page
// (app/index.html) has written its result.
//
//   node launch.mjs '{"url": "http://127.0.0.1:P/launch.html?iss=...",
//                     "username": "...", "password": "...",
//                     "chromium": "/usr/bin/chromium", "timeout_ms": 60000}'
//
// Prints one JSON object on stdout: {ok, step, status, result, url, body,
// console, failed}. result is what the app page found (its #result JSON);
// the caller (tests/integration/test_browser_launch.py) asserts on it.
// ok is false when the flow did not get that far; step then says where it
// stopped. No sleeps: every wait is on a navigation or a selector.
import puppeteer from "puppeteer-core";

const cfg = JSON.parse(process.argv[2] || "{}");
const timeout = cfg.timeout_ms || 60000;
const out = { ok: false, step: "start", status: null, result: null, url: null, body: null, console: [], failed: [] };
let browser = null;
let page = null;

function done(code) {
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exitCode = code;
}

async function snapshot() {
  if (!page) return;
  try {
    out.url = page.url();
    out.body = await page.evaluate(() => (document.body ? document.body.innerText : document.documentElement.outerHTML));
  } catch (e) {
    out.body = "(page not readable: " + e.message + ")";
  }
}

// Clicks a submit button and waits for the navigation it starts.
async function submit(selector) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load", timeout }), page.click(selector)]);
}

try {
  out.step = "launch chromium";
  browser = await puppeteer.launch({
    executablePath: cfg.chromium || "/usr/bin/chromium",
    headless: true, // puppeteer adds --headless=new
    pipe: true,     // DevTools over a pipe: no debugging port at all
    timeout,
    protocolTimeout: timeout,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--no-default-browser-check", "--disable-extensions"],
  });
  page = await browser.newPage();
  page.setDefaultTimeout(timeout);
  page.setDefaultNavigationTimeout(timeout);
  page.on("console", (m) => out.console.push(m.type() + ": " + m.text()));
  page.on("pageerror", (e) => out.console.push("pageerror: " + e.message));
  page.on("requestfailed", (r) =>
    out.failed.push(r.method() + " " + r.url() + " " + ((r.failure() && r.failure().errorText) || "")));
  page.on("response", (r) => {
    if (r.status() >= 400 && !r.url().endsWith("/favicon.ico"))
      out.failed.push(r.request().method() + " " + r.url() + " -> " + r.status());
  });

  // launch.html runs FHIR.oauth2.authorize(), which navigates to the
  // authorize endpoint; its login page is what we wait for.
  out.step = "open launch page";
  await page.goto(cfg.url, { waitUntil: "load" });
  out.step = "wait for the login form";
  await page.waitForSelector('form input[type="password"][name="password"], #result[data-status]');
  if (await page.$("#result[data-status]")) throw new Error("the launch page failed before the login page");

  out.step = "sign in";
  await page.type('input[name="username"]', cfg.username);
  await page.type('input[name="password"]', cfg.password);
  await submit('button[name="action"][value="login"]');

  out.step = "consent";
  await page.waitForSelector('button[name="action"][value="approve"]');
  await submit('button[name="action"][value="approve"]');

  // The consent answer redirects to index.html?code=...&state=...; the
  // app exchanges the code, reads the patient and sets data-status.
  out.step = "wait for the app";
  await page.waitForSelector("#result[data-status]");
  out.status = await page.$eval("#result", (e) => e.getAttribute("data-status"));
  const text = await page.$eval("#result", (e) => e.textContent);
  try {
    out.result = JSON.parse(text);
  } catch (e) {
    out.result = text;
  }
  out.step = "finished";
  out.ok = out.status === "done";
  await snapshot();
  done(0);
} catch (e) {
  out.error = (e && e.stack) || String(e);
  await snapshot();
  done(1);
} finally {
  if (browser) await browser.close().catch(() => {});
}
