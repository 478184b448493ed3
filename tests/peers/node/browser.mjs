// Drives Debian's Chromium with playwright-core (no browser download) through tern's pages,
// one scenario per run, and prints what it saw as JSON on stdout.
//
// node browser.mjs sign-in --tern URL --user NAME
//   tern's /app → sign-in page → the provider's login and consent → back; then sign out.
// node browser.mjs authorize --url URL [--tern URL --user NAME]
//   a `terraform login` authorization URL: sign in if asked, then Allow.
// node browser.mjs ui --tern URL --org ORG --workspace WS --run RUN --secret VALUE [--screenshots DIR]
//   the web UI, two people (user tokens in TERN_UI_OWNER_TOKEN and TERN_UI_READER_TOKEN):
//   the owner signs in, walks organizations → workspaces → workspace → runs → the planned RUN,
//   confirms it with a comment and waits (the page follows the run by itself) until it is
//   applied, then sees the outputs (never the sensitive VALUE). It prints {"phase":"owner-done"}
//   and reads a second planned run's id from stdin: the reader, in a context of their own, opens
//   it, has no buttons, and forges the form's POST with their own CSRF token. axe-core checks
//   every page (also dark, and at a phone's width); with --screenshots, PNGs go to DIR.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [scenario, ...rest] = process.argv.slice(2);
const args = Object.fromEntries(rest.reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));

const browser = await chromium.launch({
  executablePath: process.env.TERN_TEST_CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
// tern's test server has a certificate of a test CA the browser does not know.
let page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
const out = {};
const wait = { waitUntil: "domcontentloaded" };

async function signInAtProvider(user) {
  // oidc-provider's development pages: a login form, then a consent form.
  await page.locator('input[name="login"]').fill(user);
  await page.locator('input[name="password"]').fill("unused");
  await Promise.all([page.waitForNavigation(wait), page.locator('button[type="submit"]').click()]);
  if (await page.locator('input[name="prompt"][value="consent"]').count()) {
    await Promise.all([page.waitForNavigation(wait), page.locator('button[type="submit"]').click()]);
  }
}

// ------------------------------------------------------------------------------ the web UI

// Resolved when first needed: the other scenarios run without axe-core.
const axePath = () => createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const textOf = async (locator) => ((await locator.textContent()) ?? "").trim();
const click = (p, locator) => Promise.all([p.waitForNavigation(wait), locator.click()]);

/// A browser context as a person's: its own cookies, a laptop's window. The pages send a strict
/// CSP (their own script and stylesheet only): bypassed so that axe-core can be injected.
async function personPage() {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    bypassCSP: true,
    viewport: { width: 1000, height: 700 },
    colorScheme: "light",
  });
  return context.newPage();
}

/// axe-core on the page as it is now (its colour scheme and width): every violation goes to
/// out.axe, and the serious and critical ones, one line each, to out.a11yProblems. The page's
/// HTML must not hold the sensitive output's value either.
async function check(p, name) {
  page = p;
  const html = await p.content();
  if (html.includes(args.secret)) out.secretSeenOn.push(name);
  if (!(await p.evaluate(() => typeof window.axe === "object"))) await p.addScriptTag({ path: axePath() });
  const violations = await p.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(" "), html: n.html.slice(0, 300), summary: n.failureSummary })),
    }));
  });
  const scheme = (await p.evaluate(() => matchMedia("(prefers-color-scheme: dark)").matches)) ? "dark" : "light";
  const width = p.viewportSize().width;
  const path = new URL(p.url()).pathname;
  out.axe.push({ page: name, path, scheme, width, violations });
  for (const v of violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
    for (const n of v.nodes) {
      out.a11yProblems.push(`${name} (${path}, ${scheme}, ${width}px): ${v.id} [${v.impact}] ${v.help} at \`${n.target}\`: ${n.summary.replace(/\s+/g, " ")} — ${n.html}`);
    }
  }
}

/// The same checks in the dark palette, then back to light.
async function checkDark(p, name, screenshot) {
  await p.emulateMedia({ colorScheme: "dark" });
  out.darkBackgrounds[name] = await p.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  await check(p, `${name} (dark)`);
  if (screenshot) await shot(p, screenshot);
  await p.emulateMedia({ colorScheme: "light" });
}

/// The same checks at a phone's width (390 px), and whether the page scrolls sideways.
async function checkPhone(p, name) {
  await p.setViewportSize({ width: 390, height: 844 });
  out.phoneOverflow[name] = await p.evaluate(() => {
    const wide = [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      .filter((e) => !e.closest(".scroll") && !e.closest(".skip"))
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className ? "." + String(e.className).replace(/ /g, ".") : ""}`);
    return { scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth, wide: wide.slice(0, 10) };
  });
  await check(p, `${name} (phone)`);
  await p.setViewportSize({ width: 1000, height: 700 });
}

async function shot(p, file) {
  if (!args.screenshots) return;
  const path = `${args.screenshots}/${file}`;
  await p.screenshot({ path, fullPage: false });
  out.screenshots.push(path);
}

/// /app → the sign-in page → a user token → back at /app, signed in.
async function signInWithToken(p, token, who) {
  await p.goto(`${args.tern}/app`, wait);
  out[who].signInPage = new URL(p.url()).pathname;
  await check(p, `${who}: sign-in`);
  await p.locator("#token").fill(token);
  await click(p, p.locator('form[action="/app/sign-in/token"] button[type="submit"]'));
  if (new URL(p.url()).pathname !== "/app") throw new Error(`${who}'s sign-in ended at ${p.url()}: ${await p.content()}`);
  out[who].username = await textOf(p.locator("#username"));
}

/// Whether the page follows a live run: its script's event stream, or (without the script) a
/// meta refresh.
const following = (p) => p.locator('[data-events], meta[http-equiv="refresh"]').count();

/// Wait (bounded) until `#run-status` reads `want` on a page that no longer follows the run (its
/// last reload done), while the page follows the run by itself — the test never reloads it.
/// What it saw: how often the page reloaded, and the statuses it showed on the way.
async function waitForStatus(p, want, seconds) {
  const deadline = Date.now() + seconds * 1000;
  const seen = { reloads: 0, statuses: [] };
  const counted = (frame) => frame === p.mainFrame() && seen.reloads++;
  p.on("framenavigated", counted);
  try {
    for (;;) {
      const status = await textOf(p.locator("#run-status")).catch(() => null);
      if (status && seen.statuses.at(-1) !== status) seen.statuses.push(status);
      if (status === want && (await following(p).catch(() => 1)) === 0) return seen;
      if (["errored", "canceled", "discarded", "force_canceled"].includes(status)) {
        const error = await textOf(p.locator("#run-error")).catch(() => "");
        throw new Error(`the run became ${status}, not ${want}: ${error}`);
      }
      if (Date.now() > deadline) throw new Error(`#run-status still read ${status} after ${seconds} s, not ${want} (saw ${JSON.stringify(seen)})`);
      await p.waitForTimeout(200);
    }
  } finally {
    p.off("framenavigated", counted);
  }
}

/// The rows of a table as lists of cell texts.
const rows = (p, selector) =>
  p.locator(`${selector} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));

async function ui() {
  const { tern, org, workspace, run } = args;
  const owner = await personPage();
  Object.assign(out, { owner: {}, reader: {}, axe: [], a11yProblems: [], secretSeenOn: [], darkBackgrounds: {}, phoneOverflow: {}, screenshots: [] });

  // The owner: sign in, then organizations → workspaces → the workspace → its runs → the run.
  await signInWithToken(owner, process.env.TERN_UI_OWNER_TOKEN, "owner");
  await check(owner, "organizations");
  out.owner.organizations = await owner.locator("#organizations a").allTextContents();
  await click(owner, owner.locator("#organizations a", { hasText: org }));
  out.owner.workspacesPath = new URL(owner.url()).pathname;
  await check(owner, "workspaces");
  out.owner.workspacesBefore = await rows(owner, "#workspaces");
  await click(owner, owner.locator("#workspaces a", { hasText: workspace }));
  await check(owner, "workspace");
  out.owner.workspaceBefore = { latest: await textOf(owner.locator("#latest-run")), outputs: await textOf(owner.locator('section[aria-labelledby="outputs-h"]')) };
  await click(owner, owner.locator("nav.tabs a", { hasText: "Runs" }));
  await check(owner, "runs");
  out.owner.runs = await rows(owner, "#runs");
  await click(owner, owner.locator(`#runs a`, { hasText: run }));
  out.owner.runPath = new URL(owner.url()).pathname;
  await check(owner, "run (planned)");
  out.owner.planned = {
    status: await textOf(owner.locator("#run-status")),
    summary: await textOf(owner.locator("#plan-summary")),
    changes: await owner.locator("#resource-changes li").allTextContents(),
    planLog: await textOf(owner.locator("#plan-log")),
    follows: await following(owner),
  };
  await shot(owner, "ui-run.png");
  await checkDark(owner, "run (planned)", "ui-run-dark.png");
  await checkPhone(owner, "run (planned)");

  // Confirm & apply with a comment; the page follows the run by itself until it is applied.
  await owner.locator("#comment").fill("Ship it, from the browser");
  await click(owner, owner.locator("#confirm-apply"));
  out.owner.afterConfirmPath = new URL(owner.url()).pathname;
  out.owner.followsLive = await following(owner);
  out.owner.follow = await waitForStatus(owner, "applied", 90);
  await check(owner, "run (applied)");
  await checkDark(owner, "run (applied)");
  out.owner.applied = {
    status: await textOf(owner.locator("#run-status")),
    timeline: await owner.locator("#timeline li").allTextContents(),
    applyLog: await textOf(owner.locator("#apply-log")),
    follows: await following(owner),
  };

  // The workspace: the plain output's value, the sensitive one's name only.
  await click(owner, owner.locator(".crumbs a", { hasText: workspace }));
  await check(owner, "workspace (applied)");
  out.owner.outputs = await rows(owner, "#outputs");
  out.owner.resources = await owner.locator("#resources li").allTextContents();
  out.owner.workspaceHtmlHasSecret = (await owner.content()).includes(args.secret);
  await shot(owner, "ui-workspace.png");
  await checkDark(owner, "workspace (applied)");

  // The workspaces list again: light, dark, and at a phone's width.
  await click(owner, owner.locator("#org-link"));
  await check(owner, "workspaces (applied)");
  out.owner.workspacesAfter = await rows(owner, "#workspaces");
  await shot(owner, "ui-workspaces.png");
  await checkDark(owner, "workspaces", null);
  await checkPhone(owner, "workspaces");
  await owner.emulateMedia({ colorScheme: "dark" });
  await checkPhone(owner, "workspaces (dark)");
  await owner.emulateMedia({ colorScheme: "light" });

  // The test starts a second run now, and says which.
  console.log(JSON.stringify({ phase: "owner-done" }));
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const next = await Promise.race([lines.next(), new Promise((r) => setTimeout(() => r(null), 60000))]);
  if (!next || next.done) throw new Error("the test never said which run the reader looks at");
  const second = next.value.trim();
  out.secondRun = second;

  // The reader, in a browser of their own: the run's page has no buttons; a forged POST is
  // refused by the server, CSRF token or not.
  const reader = await personPage();
  page = reader;
  await signInWithToken(reader, process.env.TERN_UI_READER_TOKEN, "reader");
  await check(reader, "reader: organizations");
  await click(reader, reader.locator("#organizations a", { hasText: org }));
  await check(reader, "reader: workspaces");
  out.reader.workspaces = await rows(reader, "#workspaces");
  await reader.goto(`${tern}/app/${org}/workspaces/${workspace}/runs`, wait);
  await check(reader, "reader: runs");
  await click(reader, reader.locator("#runs a", { hasText: second }));
  out.reader.follow = await waitForStatus(reader, "planned", 90);
  await check(reader, "reader: run (planned)");
  out.reader.runStatus = await textOf(reader.locator("#run-status"));
  out.reader.confirmButtons = await reader.locator("#confirm-apply").count();
  out.reader.actionForms = await reader.locator("#run-actions, button[name=action]").count();
  const csrf = await reader.locator('input[name="csrf"]').first().inputValue();
  out.reader.forged = [];
  for (const action of ["apply", "discard", "cancel"]) {
    const r = await reader.request.post(`${tern}/app/${org}/workspaces/${workspace}/runs/${second}/actions`, {
      form: { csrf, action, comment: "forged by the reader" },
      headers: { origin: new URL(tern).origin },
      maxRedirects: 0,
    });
    const body = await r.text();
    const error = (body.match(/<p id="error">([^<]*)<\/p>/) ?? [])[1] ?? body.slice(0, 300);
    out.reader.forged.push({ action, status: r.status(), error });
  }
  await reader.reload(wait);
  out.reader.statusAfterForgery = await textOf(reader.locator("#run-status"));

  // The owner, on the same run, does get the button.
  page = owner;
  await owner.goto(`${tern}/app/${org}/workspaces/${workspace}/runs/${second}`, wait);
  out.owner.secondRunConfirmButtons = await owner.locator("#confirm-apply").count();
}

try {
  if (scenario === "sign-in") {
    await page.goto(`${args.tern}/app`, wait);
    out.signInPage = new URL(page.url()).pathname;
    await Promise.all([page.waitForNavigation(wait), page.locator("#sign-in-oidc").click()]);
    await signInAtProvider(args.user);
    if (await page.locator("#error").count()) {
      // tern refused the sign-in: say why.
      out.refused = await page.locator("#error").textContent();
      console.log(JSON.stringify({ ok: true, ...out }));
      process.exit(0);
    }
    await page.waitForURL(`${args.tern}/app`, wait);
    out.username = await page.locator("#username").textContent();
    out.teams = await page.locator("#teams li").allTextContents();
    const cookies = await page.context().cookies(args.tern);
    const session = cookies.find((c) => c.name.endsWith("tern_session"));
    out.cookie = session && { name: session.name, httpOnly: session.httpOnly, secure: session.secure, sameSite: session.sameSite, value: session.value };
    await Promise.all([page.waitForNavigation(wait), page.locator("#sign-out").click()]);
    out.afterSignOut = new URL(page.url()).pathname;
  } else if (scenario === "authorize") {
    await page.goto(args.url, wait);
    if (new URL(page.url()).pathname === "/app/sign-in") {
      await Promise.all([page.waitForNavigation(wait), page.locator("#sign-in-oidc").click()]);
      await signInAtProvider(args.user);
    }
    await page.locator("#allow").waitFor();
    out.consent = await page.locator("h1").textContent();
    // The redirect goes to Terraform's listener on a loopback port (10000-10010), which takes
    // the code and stops: its answer may not reach the browser before it closes (an empty
    // response is fine). Whether Terraform got the code, its own exit says.
    const loopback = /^http:\/\/(localhost|127\.0\.0\.1):100\d\d\/login\?/;
    const redirected = new Promise((resolve) => {
      page.on("request", (r) => loopback.test(r.url()) && resolve(r.url()));
    });
    await page.locator("#allow").click({ noWaitAfter: true });
    const to = await Promise.race([redirected, new Promise((r) => setTimeout(() => r(null), 30000))]);
    if (!to) throw new Error("the browser was not sent to Terraform's loopback listener");
    const u = new URL(to);
    out.redirectedTo = `${u.origin}${u.pathname}`;
    out.gotCode = u.searchParams.has("code") && u.searchParams.has("state");
  } else if (scenario === "ui") {
    // Bounded as a whole: a hang says where it was, well before the test's own limit.
    setTimeout(() => {
      console.log(JSON.stringify({ ok: false, error: "the ui scenario took over 150 s", url: page.url(), ...out }));
      process.exit(1);
    }, 150000).unref();
    await ui();
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  console.log(JSON.stringify({ ok: true, ...out }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e), url: page.url(), html: (await page.content()).slice(0, 2000), ...out }));
  process.exitCode = 1;
} finally {
  // A navigation to Terraform's listener that stopped may hang the close: bounded, then the
  // process exits (playwright kills the browser it launched).
  await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 3000))]);
  process.exit();
}
