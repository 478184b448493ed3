// Drives Debian's Chromium with playwright-core (no browser download) through tern's pages,
// one scenario per run, and prints what it saw as JSON on stdout.
//
// node browser.mjs sign-in --tern URL --user NAME
//   tern's /app → sign-in page → the provider's login and consent → back; then sign out.
// node browser.mjs authorize --url URL [--tern URL --user NAME]
//   a `terraform login` authorization URL: sign in if asked, then Allow.
// node browser.mjs ui --tern URL --org ORG --workspace WS --run RUN --secret VALUE --throwaway WS2
//     --team TEAM --member USER [--screenshots DIR]
//   the web UI, two people (user tokens in TERN_UI_OWNER_TOKEN and TERN_UI_READER_TOKEN):
//   the owner signs in, walks organizations → workspaces → workspace → runs → the planned RUN,
//   confirms it with a comment and waits (the page follows the run by itself) until it is
//   applied, then sees the outputs (never the sensitive VALUE). It prints {"phase":"owner-done"}
//   and reads a second planned run's id from stdin: the reader, in a context of their own, opens
//   it, has no buttons, and forges the form's POST with their own CSRF token. Then the other
//   tabs: State (a version, its comparison, its download), Settings (save and put back, lock
//   and unlock, delete the --throwaway workspace by its name; the reader's disabled form), and
//   Credentials (AWS and Vault set on the Variables page; trust formats as tabs, Copy, a checked
//   trust document; the page without JavaScript); someone with outputs-only access
//   (TERN_UI_OUTSIDER_TOKEN) is refused State and Credentials. Then the organization's settings
//   (--team TEAM gets --member USER added and removed; an organization token created, used with
//   Node's fetch, revoked; the audit trail filtered and paged; agent pools), which the reader sees
//   only where the API lets them; and the admin page, refused to the reader, then the owner made
//   a site administrator with TERN_UI_ADMIN_TOKEN: the keys, a rotation, the JWKS download, and
//   the doctor page (refused to the reader too).
//   axe-core checks every page (also dark, and at a phone's width); with --screenshots, PNGs go
//   to DIR.
// node browser.mjs follow --tern URL --path /app/ORG/workspaces/WS/runs/RUN --lines N
//   the log-latency benchmark (scripts/bench, section 10): signs in with TERN_UI_OWNER_TOKEN,
//   opens the planned run's page, confirms it (the page then follows the apply) and, for each line `tern-bench-line <ns since the epoch>`
//   the run's configuration prints, records when it became part of the page (a mutation
//   observer; the first time only, across the page's own reloads). Prints the delays in ms and
//   the addresses of the scripts the page loads.
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

// ------------------------------------------------------------------------------ log latency

async function follow() {
  const want = Number(args.lines);
  const seen = new Map();
  let done;
  const all = new Promise((r) => { done = r; });
  // Called from the page with the lines it has just shown and the time it showed them.
  await page.exposeFunction("ternBenchSeen", (stamps, at) => {
    for (const ns of stamps) if (!seen.has(ns)) seen.set(ns, at - Number(ns.slice(0, 16)) / 1000);
    if (seen.size >= want) done();
  });
  await page.addInitScript(() => {
    const scan = (text) => {
      const at = performance.timeOrigin + performance.now();
      const stamps = [...text.matchAll(/tern-bench-line (\d{19})/g)].map((m) => m[1]);
      if (stamps.length) window.ternBenchSeen(stamps, at);
    };
    document.addEventListener("DOMContentLoaded", () => {
      const pre = document.getElementById("apply-log");
      if (!pre) return;
      // From a little before the end of what was scanned: a line cut between two events
      // is read whole once its end arrives.
      let scanned = 0;
      const more = () => {
        const text = pre.textContent;
        scan(text.slice(Math.max(0, scanned - 64)));
        scanned = text.length;
      };
      more();
      new MutationObserver(more).observe(pre, { childList: true, subtree: true, characterData: true });
    });
  });
  await page.goto(`${args.tern}/app`, wait);
  await page.locator("#token").fill(process.env.TERN_UI_OWNER_TOKEN);
  await Promise.all([page.waitForNavigation(wait), page.locator('form[action="/app/sign-in/token"] button[type="submit"]').click()]);
  // The run waits for a person: confirming it here starts the apply with the page open.
  await page.goto(`${args.tern}${args.path}`, wait);
  await Promise.all([page.waitForNavigation(wait), page.locator("#confirm-apply").click()]);
  // Every script the page loads (the benchmark weighs them).
  out.scripts = await page.evaluate(() => [...document.scripts].map((s) => s.src).filter(Boolean));
  const limit = new Promise((r) => setTimeout(r, Number(args.seconds ?? 120) * 1000));
  await Promise.race([all, limit]);
  out.lines = want;
  out.delays_ms = [...seen.values()];
  if (seen.size < want) throw new Error(`the page showed ${seen.size} of ${want} lines in time`);
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
      .filter((e) => !e.closest(".scroll, pre") && !e.closest(".skip"))
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

/// /app → the sign-in page → a user token → back at /app, signed in. axe-core checks the
/// sign-in page (not where JavaScript is off: axe-core needs it).
async function signInWithToken(p, token, who, axe = true) {
  await p.goto(`${args.tern}/app`, wait);
  out[who].signInPage = new URL(p.url()).pathname;
  if (axe) await check(p, `${who}: sign-in`);
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
      if (status === want && (await following(p).catch(() => 1)) === 0) {
        // Read mid-reload (the old document gone, the new one not yet committed), the page
        // follows nothing for a moment: settle, and believe it only if it still holds.
        await p.waitForTimeout(1000);
        await p.waitForLoadState("load").catch(() => {});
        const settled = await textOf(p.locator("#run-status")).catch(() => null);
        if (settled === want && (await following(p).catch(() => 1)) === 0) return seen;
        continue;
      }
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

  // The workspace's other tabs, once both runs are where the test wants them.
  await stateTab(owner, reader);
  await settingsTab(owner, reader);
  const t0 = Date.now();
  await credentialsTab(owner);
  await outsider();
  const t1 = Date.now();
  await orgSettings(owner, reader);
  const t2 = Date.now();
  await admin(owner, reader);
  await account(owner);
  out.timings = { tabs: t1 - t0, org: t2 - t1, admin: Date.now() - t2 };
}

/// The owner's sessions, from the link on their name in the header: this browser's marked.
async function account(owner) {
  page = owner;
  await owner.goto(`${args.tern}/app`, wait);
  await click(owner, owner.locator("#account-link"));
  out.owner.account = { path: new URL(owner.url()).pathname, sessions: await rows(owner, "#sessions") };
  await checkAll(owner, "account: sessions");
}

/// The API, from Node (not a page): `fetch` with a bearer token; its status and JSON.
async function api(method, path, token) {
  const r = await fetch(`${args.tern}${path}`, { method, headers: { authorization: `Bearer ${token}`, accept: "application/vnd.api+json" } });
  let body = null;
  try {
    body = JSON.parse(await r.text());
  } catch {}
  return { status: r.status, body };
}

/// A page refused: its status, heading and error.
async function refused(p, path, name) {
  const r = await p.goto(`${args.tern}${path}`, wait);
  const seen = { status: r.status(), title: await textOf(p.locator("h1")), error: (await p.locator("#error").count()) ? await textOf(p.locator("#error")) : null };
  await check(p, name);
  return seen;
}

/// light, dark and a phone's width.
async function checkAll(p, name, screenshot) {
  await check(p, name);
  if (screenshot) await shot(p, screenshot);
  await checkDark(p, name);
  await checkPhone(p, name);
}

/// The organization's settings: Teams (a member added and removed through the form), API
/// tokens (one created, its secret shown once; used and then revoked against the API), the
/// audit trail (filtered, the pager keeping the filters) and the agent pools. The reader sees
/// what the API lets them see and is refused the rest.
async function orgSettings(owner, reader) {
  const { tern, org, workspace } = args;
  const o = (out.owner.org = {});
  page = owner;
  await owner.goto(`${tern}/app/${org}/workspaces`, wait);
  await click(owner, owner.locator("#org-settings-link"));
  o.settingsPath = new URL(owner.url()).pathname;
  o.tabs = await owner.locator('nav.tabs[aria-label="Organization settings"] a').allTextContents();
  o.teams = await rows(owner, "#teams");
  await checkAll(owner, "org: teams");

  // A team: add a member through the form, then remove them.
  await click(owner, owner.locator("#teams a", { hasText: args.team }));
  o.teamPath = new URL(owner.url()).pathname;
  o.membersBefore = await owner.locator("#members li").evaluateAll((ls) => ls.map((l) => l.firstChild.textContent.trim()));
  await checkAll(owner, "org: team");
  await owner.locator("#new-member").fill(args.member);
  await click(owner, owner.locator("#add-member-button"));
  o.added = { path: new URL(owner.url()).pathname, members: await owner.locator("#members li").evaluateAll((ls) => ls.map((l) => l.firstChild.textContent.trim())) };
  await check(owner, "org: team (member added)");
  await click(owner, owner.getByRole("button", { name: `Remove ${args.member} from the team` }));
  o.removed = { path: new URL(owner.url()).pathname, members: await owner.locator("#members li").evaluateAll((ls) => ls.map((l) => l.firstChild.textContent.trim())) };

  // Tokens: an organization token, its secret shown once, with a warning.
  await tab(owner, "API tokens");
  o.tokensPath = new URL(owner.url()).pathname;
  await checkAll(owner, "org: tokens");
  const description = "from the browser test";
  await owner.locator("#for").selectOption("organization");
  await owner.locator("#description").fill(description);
  await owner.locator("#expires").selectOption("30");
  await click(owner, owner.locator("#create-token"));
  const secret = await owner.locator("#secret").inputValue();
  o.created = {
    path: new URL(owner.url()).pathname,
    heading: await textOf(owner.locator("#new-h")),
    warning: await textOf(owner.locator("#new-token p")),
    label: await textOf(owner.locator('label[for="secret"]')),
    secretLength: secret.length,
    secretPrefix: secret.split(".")[0],
  };
  await checkAll(owner, "org: token created");
  // Reloading the answer shows the page again; it does not post the form a second time.
  await owner.reload(wait);
  const listed = await rows(owner, "#tokens");
  o.afterReload = {
    path: new URL(owner.url()).pathname,
    made: listed.filter((r) => r[1] === description).length,
    newToken: await owner.locator("#new-token").count(),
    secretInHtml: (await owner.content()).includes(secret),
    row: listed.find((r) => r[1] === description) ?? null,
  };
  o.apiWithToken = (await api("GET", `/api/v2/organizations/${org}`, secret)).status;
  await click(owner, owner.getByRole("button", { name: `Revoke token ${description}` }));
  o.revoked = {
    path: new URL(owner.url()).pathname,
    listed: (await owner.locator("#tokens").count()) ? (await rows(owner, "#tokens")).some((r) => r[1] === description) : false,
  };
  o.apiAfterRevoke = (await api("GET", `/api/v2/organizations/${org}`, secret)).status;

  // The audit trail: events enough for two pages of the owner's workspace events (locked and
  // unlocked through the API), then filters.
  const ws = await api("GET", `/api/v2/organizations/${org}/workspaces/${workspace}`, process.env.TERN_UI_OWNER_TOKEN);
  const wsId = ws.body?.data?.id;
  for (let i = 0; i < 13; i++) {
    for (const a of ["lock", "unlock"]) {
      const r = await fetch(`${tern}/api/v2/workspaces/${wsId}/actions/${a}`, {
        method: "POST",
        headers: { authorization: `Bearer ${process.env.TERN_UI_OWNER_TOKEN}`, "content-type": "application/vnd.api+json" },
        body: JSON.stringify({ reason: "events for the audit trail's pager" }),
      });
      if (!r.ok) throw new Error(`${a} through the API: ${r.status} ${await r.text()}`);
    }
  }
  await tab(owner, "Audit trail");
  o.trailPath = new URL(owner.url()).pathname;
  o.trailSecret = (await owner.content()).includes(secret);
  const trail = async () => ({
    path: new URL(owner.url()).pathname,
    query: Object.fromEntries(new URL(owner.url()).searchParams),
    filters: { action: await owner.locator('input[name="action"]').inputValue(), actor: await owner.locator('input[name="actor"]').inputValue() },
    count: await textOf(owner.locator("#count")),
    rows: (await owner.locator("#events").count()) ? (await rows(owner, "#events")).map((r) => [r[1], r[2]]) : [],
    pager: (await owner.locator("nav.pager").count()) ? await textOf(owner.locator("nav.pager span")) : null,
    next: (await owner.locator('nav.pager a[rel="next"]').count()) ? await owner.locator('nav.pager a[rel="next"]').getAttribute("href") : null,
  });
  const filter = async (action, actor) => {
    await owner.locator('input[name="action"]').fill(action);
    await owner.locator('input[name="actor"]').fill(actor);
    await click(owner, owner.getByRole("button", { name: "Filter" }));
  };
  await filter("run.", "");
  o.runs = await trail();
  await checkAll(owner, "org: audit trail (run.)", "ui-org-audit.png");
  await filter("workspace.", "alice");
  o.workspaceByAlice = await trail();
  await check(owner, "org: audit trail (workspace., alice)");
  if (o.workspaceByAlice.next) {
    await click(owner, owner.locator('nav.pager a[rel="next"]'));
    o.page2 = await trail();
    await checkAll(owner, "org: audit trail (page 2)");
  }

  // Managing: a team created through the form; a variable set created, with a sensitive
  // variable, through its forms.
  await tab(owner, "Teams");
  await owner.locator("#team-name").fill("browser-team");
  await owner.getByRole("checkbox", { name: "manage-workspaces" }).check();
  await click(owner, owner.locator("#create-team-button"));
  o.teamCreated = { path: new URL(owner.url()).pathname, permissions: await owner.locator("#permissions li").allTextContents() };
  await check(owner, "org: team created");
  await tab(owner, "Variable sets");
  await check(owner, "org: variable sets");
  await owner.locator("#set-name").fill("browser-set");
  await click(owner, owner.locator("#create-set-button"));
  await owner.locator("#new-key").fill("BROWSER_SECRET");
  await owner.locator("#new-value").fill("browser-secret-value-1234");
  await owner.locator("#new-category").selectOption("env");
  await owner.getByRole("checkbox", { name: "Sensitive (write-only)" }).check();
  await click(owner, owner.locator("#add"));
  o.setCreated = {
    path: new URL(owner.url()).pathname,
    keys: (await rows(owner, "#variables")).map((r) => r[0]),
    secretInHtml: (await owner.content()).includes("browser-secret-value-1234"),
  };
  await check(owner, "org: variable set");

  await tab(owner, "Agents");
  o.agentsPath = new URL(owner.url()).pathname;
  o.pools = await owner.locator("main section h2").allTextContents();
  o.poolText = await owner.locator("main section").allTextContents();
  await checkAll(owner, "org: agents");

  // The reader: the pages the API lets every member see, and refusals for the rest.
  page = reader;
  const r = (out.reader.org = {});
  await reader.goto(`${tern}/app/${org}/workspaces`, wait);
  await click(reader, reader.locator("#org-settings-link"));
  r.teams = { path: new URL(reader.url()).pathname, rows: await rows(reader, "#teams") };
  await check(reader, "reader: org: teams");
  await click(reader, reader.locator("#teams a", { hasText: args.team }));
  r.team = {
    members: await reader.locator("#members li").count(),
    addForms: await reader.locator("#add-member").count(),
    buttons: await reader.locator("main button").count(),
  };
  await check(reader, "reader: org: team");
  const agents = await click(reader, reader.locator("nav.tabs a", { hasText: "Agents" })).then(([r]) => r);
  r.agents = { status: agents.status(), pools: await reader.locator("main section h2").allTextContents(), text: await reader.locator("main section").allTextContents() };
  await check(reader, "reader: org: agents");
  r.tokens = await refused(reader, `/app/${org}/settings/tokens`, "reader: org: tokens (refused)");
  r.trail = await refused(reader, `/app/${org}/settings/audit-trail?action=run.`, "reader: org: audit trail (refused)");
  r.tokensApi = (await api("GET", `/api/v2/organizations/${org}/authentication-tokens`, process.env.TERN_UI_READER_TOKEN)).status;
  r.trailApi = (await api("GET", `/api/v2/organizations/${org}/audit-trail`, process.env.TERN_UI_READER_TOKEN)).status;
  r.teamsApi = (await api("GET", `/api/v2/organizations/${org}/teams`, process.env.TERN_UI_READER_TOKEN)).status;
  r.agentsApi = (await api("GET", `/api/v2/organizations/${org}/agent-pools`, process.env.TERN_UI_READER_TOKEN)).status;
  page = owner;
}

/// The admin pages: nobody but a site administrator sees the Admin link or the keys page; the
/// owner, made one through the API, rotates the key and downloads the JWKS.
async function admin(owner, reader) {
  const { tern } = args;
  const a = (out.owner.admin = {});
  page = reader;
  await reader.goto(`${tern}/app`, wait);
  out.reader.adminLink = await reader.locator("#admin-link").count();
  out.reader.adminKeys = await refused(reader, "/app/admin/keys", "reader: admin keys (refused)");
  out.reader.adminDoctor = await refused(reader, "/app/admin/doctor", "reader: admin doctor (refused)");

  page = owner;
  await owner.goto(`${tern}/app`, wait);
  a.linkBefore = await owner.locator("#admin-link").count();
  a.keysBefore = (await owner.goto(`${tern}/app/admin/keys`, wait)).status();
  const me = await api("GET", "/api/v2/account/details", process.env.TERN_UI_OWNER_TOKEN);
  a.granted = (await api("POST", `/api/v2/admin/users/${me.body?.data?.id}/actions/grant_admin`, process.env.TERN_UI_ADMIN_TOKEN)).status;
  await owner.goto(`${tern}/app`, wait);
  a.linkAfter = await owner.locator("#admin-link").count();
  await click(owner, owner.locator("#admin-link"));
  a.path = new URL(owner.url()).pathname;
  const keys = async () => ({
    rows: (await owner.locator("#keys").count()) ? (await rows(owner, "#keys")).map((r) => r.slice(0, 3)) : [],
    keyFiles: (await owner.locator("#key-files").count()) ? await textOf(owner.locator("#key-files")) : null,
    warning: (await owner.locator("#next-warning").count()) ? await textOf(owner.locator("#next-warning")) : null,
  });
  a.before = await keys();
  await checkAll(owner, "admin: keys");
  if (await owner.locator("#rotate-key").count()) {
    await click(owner, owner.locator("#rotate-key"));
    a.rotatedPath = new URL(owner.url()).pathname;
    a.after = await keys();
    await checkAll(owner, "admin: keys (rotated)", "ui-admin-keys.png");
  }
  const href = new URL(await owner.locator("#download-jwks").getAttribute("href"), owner.url()).href;
  const d = await owner.request.get(href, { maxRedirects: 0 });
  const wellKnown = await fetch(`${tern}/.well-known/jwks`);
  const served = await wellKnown.text();
  const body = await d.text();
  a.download = {
    status: d.status(),
    disposition: d.headers()["content-disposition"],
    contentType: d.headers()["content-type"],
    same: body === served,
    keys: (() => {
      try {
        return JSON.parse(body).keys.map((k) => k.kid);
      } catch {
        return null;
      }
    })(),
    servedKeys: JSON.parse(served).keys.map((k) => k.kid),
  };

  // The doctor page, from the keys page's tab: every finding as a word, a check, a detail and
  // a fix; no token on it.
  await owner.goto(`${tern}/app/admin/keys`, wait);
  await click(owner, owner.locator("#admin-doctor-link"));
  const html = await owner.content();
  a.doctor = {
    path: new URL(owner.url()).pathname,
    summary: await textOf(owner.locator("#doctor-summary")),
    findings: (await rows(owner, "#findings")).map((r) => r.slice(0, 2)),
    tokenSeen: [process.env.TERN_UI_OWNER_TOKEN, process.env.TERN_UI_ADMIN_TOKEN].filter((t) => t && html.includes(t)).length,
    privateKey: html.includes("PRIVATE KEY"),
  };
  await checkAll(owner, "admin: doctor", "ui-admin-doctor.png");
}

/// A workspace tab, by the link in its tab bar.
const tab = (p, name) => click(p, p.locator("nav.tabs a", { hasText: name }));

/// The State tab: the version the first run made, compared with the one before (none), and its
/// file downloaded with the page's cookies. The reader (read access includes state versions)
/// sees the list too.
async function stateTab(owner, reader) {
  const { tern, org, workspace } = args;
  const s = (out.owner.state = {});
  await owner.goto(`${tern}/app/${org}/workspaces/${workspace}`, wait);
  await tab(owner, "State");
  s.path = new URL(owner.url()).pathname;
  await check(owner, "states");
  s.rows = await rows(owner, "#states");
  await checkDark(owner, "states");
  await checkPhone(owner, "states");
  await click(owner, owner.locator("#states tbody tr").first().locator("a", { hasText: "Compare with previous" }));
  s.comparePath = new URL(owner.url()).pathname;
  await check(owner, "state (compare)");
  s.heading = await textOf(owner.locator("h1"));
  s.base = await textOf(owner.locator("#base"));
  s.counts = await textOf(owner.locator("#resource-counts"));
  s.resourceChanges = await rows(owner, "#resource-changes");
  s.outputChanges = await rows(owner, "#output-changes");
  await shot(owner, "ui-state.png");
  await checkDark(owner, "state (compare)");
  await checkPhone(owner, "state (compare)");
  // The file, fetched as the link would be, with this person's cookies.
  const href = new URL(await owner.locator("#download").getAttribute("href"), owner.url()).href;
  const r = await owner.request.get(href, { maxRedirects: 0 });
  const h = r.headers();
  let state = null;
  try {
    state = JSON.parse(await r.text());
  } catch {}
  s.download = {
    path: new URL(href).pathname,
    status: r.status(),
    contentType: h["content-type"],
    disposition: h["content-disposition"],
    cacheControl: h["cache-control"],
    nosniff: h["x-content-type-options"],
    json: state !== null,
    serial: state?.serial,
    resources: (state?.resources ?? []).map((x) => `${x.type}.${x.name}`),
    outputs: Object.fromEntries(Object.entries(state?.outputs ?? {}).map(([k, o]) => [k, { sensitive: !!o.sensitive, value: o.sensitive ? "(not copied)" : o.value }])),
  };

  page = reader;
  const listed = await reader.goto(`${tern}/app/${org}/workspaces/${workspace}/states`, wait);
  out.reader.states = { status: listed.status(), rows: await rows(reader, "#states") };
  await check(reader, "reader: states");
}

/// The Settings tab: the owner changes auto-apply and the working directory (then puts them
/// back), locks and unlocks, and deletes a throwaway workspace by typing its name (a wrong name
/// first); the reader sees the form disabled and no button, and a forged lock is refused.
async function settingsTab(owner, reader) {
  const { tern, org, workspace, throwaway } = args;
  const s = (out.owner.settings = {});
  page = owner;
  await owner.goto(`${tern}/app/${org}/workspaces/${workspace}`, wait);
  await tab(owner, "Settings");
  s.path = new URL(owner.url()).pathname;
  await check(owner, "settings");
  await shot(owner, "ui-settings.png");
  await checkDark(owner, "settings");
  await checkPhone(owner, "settings");
  const form = async () => ({
    path: new URL(owner.url()).pathname,
    autoApply: await owner.locator('input[name="auto_apply"]').isChecked(),
    workingDirectory: await owner.locator("#working-directory").inputValue(),
  });
  s.before = await form();
  s.buttons = await owner.locator("#save, #lock, #unlock, #delete-workspace").evaluateAll((bs) => bs.map((b) => b.id));
  await owner.locator('input[name="auto_apply"]').check();
  await owner.locator("#working-directory").fill("infra/web");
  await click(owner, owner.locator("#save"));
  s.saved = await form();
  await owner.locator('input[name="auto_apply"]').uncheck();
  await owner.locator("#working-directory").fill("");
  await click(owner, owner.locator("#save"));
  s.restored = await form();
  await click(owner, owner.locator("#lock"));
  s.locked = { state: await textOf(owner.locator("#lock-state")), unlock: await owner.locator("#unlock").count() };
  await check(owner, "settings (locked)");
  await click(owner, owner.locator("#unlock"));
  s.unlocked = { state: await textOf(owner.locator("#lock-state")), lock: await owner.locator("#lock").count() };

  // Delete the throwaway workspace: a wrong name is refused, its own name deletes it.
  await owner.goto(`${tern}/app/${org}/workspaces/${throwaway}/settings`, wait);
  await owner.locator("#confirm").fill(workspace);
  const [refused] = await click(owner, owner.locator("#delete-workspace"));
  s.wrongName = { status: refused.status(), title: await textOf(owner.locator("h1")), error: await textOf(owner.locator("#error")) };
  await check(owner, "settings: delete refused");
  await owner.goto(`${tern}/app/${org}/workspaces/${throwaway}/settings`, wait);
  await owner.locator("#confirm").fill(throwaway);
  await click(owner, owner.locator("#delete-workspace"));
  s.deleted = { path: new URL(owner.url()).pathname, workspaces: (await rows(owner, "#workspaces")).map((r) => r[0]) };

  page = reader;
  await reader.goto(`${tern}/app/${org}/workspaces/${workspace}/settings`, wait);
  await check(reader, "reader: settings");
  await checkDark(reader, "reader: settings");
  out.reader.settings = {
    readOnly: await textOf(reader.locator("#read-only")),
    fieldsets: await reader.locator("#settings fieldset").count(),
    disabledFieldsets: await reader.locator("#settings fieldset[disabled]").count(),
    enabledInputs: await reader.locator("#settings :is(input, select, textarea):not([type=hidden]):enabled").count(),
    buttons: await reader.locator("main button").count(),
    lockState: await textOf(reader.locator("#lock-state")),
  };
  const csrf = await reader.locator('input[name="csrf"]').first().inputValue();
  const r = await reader.request.post(`${tern}/app/${org}/workspaces/${workspace}/settings/lock`, {
    form: { csrf, action: "lock" },
    headers: { origin: new URL(tern).origin },
    maxRedirects: 0,
  });
  const body = await r.text();
  out.reader.forgedLock = { status: r.status(), error: (body.match(/<p id="error">([^<]*)<\/p>/) ?? [])[1] ?? body.slice(0, 300) };
}

/// A trust section's tabs: their labels, the selected one, the formats shown, and the focus.
const tabState = (p, section) =>
  p.locator(section).evaluate((s) => ({
    tabs: [...s.querySelectorAll("[role=tab]")].map((t) => t.textContent),
    selected: [...s.querySelectorAll('[role=tab][aria-selected="true"]')].map((t) => t.textContent),
    shown: [...s.querySelectorAll("section.format")].filter((f) => f.checkVisibility()).map((f) => f.id),
    focused: document.activeElement?.id ?? null,
  }));

/// The Credentials tab: AWS and Vault configured through the variables page; their trust
/// formats as tabs (click, arrow keys), a block copied, a trust document checked; and the same
/// page without JavaScript.
async function credentialsTab(owner) {
  const { tern, org, workspace } = args;
  const c = (out.owner.credentials = {});
  page = owner;
  await owner.goto(`${tern}/app/${org}/workspaces/${workspace}`, wait);
  await tab(owner, "Variables");
  for (const [key, value] of Object.entries(credentialVariables)) {
    await owner.locator("#new-key").fill(key);
    await owner.locator("#new-value").fill(value);
    await owner.locator("#new-category").selectOption("env");
    await click(owner, owner.locator("#add"));
  }
  c.variables = (await rows(owner, "#variables")).map((r) => r.slice(0, 3));
  await tab(owner, "Credentials");
  c.path = new URL(owner.url()).pathname;
  await owner.locator("#trust-aws [role=tablist]").waitFor({ timeout: 5000 });
  c.problems = await owner.locator("#problems li").allTextContents();
  c.clouds = await owner.locator("#trust section.trust").evaluateAll((ss) => ss.map((s) => s.id));
  c.tablists = await owner.locator("[role=tablist]").evaluateAll((ls) => ls.map((l) => l.getAttribute("aria-label")));
  c.initial = await tabState(owner, "#trust-aws");
  await check(owner, "credentials");
  await checkDark(owner, "credentials");
  await checkPhone(owner, "credentials");

  // Click a tab; then the arrow keys, Home and End move the selection and the focus.
  const aws = owner.locator("#trust-aws");
  await aws.getByRole("tab", { name: "AWS JSON" }).click();
  c.clicked = await tabState(owner, "#trust-aws");
  c.keys = [];
  for (const key of ["ArrowRight", "ArrowRight", "ArrowLeft", "End", "Home"]) {
    await owner.keyboard.press(key);
    c.keys.push({ key, ...(await tabState(owner, "#trust-aws")) });
  }
  await aws.getByRole("tab", { name: "AWS JSON" }).click();
  c.vault = await tabState(owner, "#trust-vault");

  // Copy: the status says so, and the clipboard holds the block's text.
  await owner.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(tern).origin });
  const panel = owner.locator("#trust-aws-json");
  await panel.getByRole("button", { name: "Copy AWS, AWS JSON" }).click();
  const said = panel.getByRole("status");
  await said.filter({ hasText: /\S/ }).waitFor({ timeout: 5000 }).catch(() => {});
  c.copy = {
    buttons: await owner.locator("#trust button", { hasText: "Copy" }).count(),
    status: await textOf(said),
    clipboard: await owner.evaluate(() => navigator.clipboard.readText()),
    block: await owner.locator("#trust-aws-json-text").textContent(),
  };
  await check(owner, "credentials (copied)");
  await owner.locator("#trust-aws").scrollIntoViewIfNeeded();
  await shot(owner, "ui-credentials.png");

  // Check a trust policy: the AWS JSON block itself is accepted; one for another workspace not.
  const verdict = async (name) => {
    await check(owner, name);
    return {
      path: new URL(owner.url()).pathname,
      heading: await textOf(owner.locator("#check-result-h")),
      firstFailure: (await owner.locator("#first-failure").count()) ? await textOf(owner.locator("#first-failure")) : null,
      conditions: await owner.locator("#check-conditions > li").evaluateAll((ls) => ls.map((l) => l.className)),
      refused: (await owner.locator("#check-refused").count()) ? await textOf(owner.locator("#check-refused")) : null,
    };
  };
  const checkDocument = async (document) => {
    await owner.locator("#check-cloud").selectOption("aws");
    await owner.locator("#check-phase").selectOption("apply");
    await owner.locator("#check-document").fill(document);
    await click(owner, owner.locator("#check-submit"));
  };
  await checkDocument(c.copy.block);
  c.accepted = await verdict("credentials: check (accepted)");
  await checkDark(owner, "credentials: check (accepted)");
  await checkPhone(owner, "credentials: check (accepted)");
  const elsewhere = c.copy.block.replaceAll(`workspace:${workspace}:`, "workspace:elsewhere:");
  c.tampered = elsewhere !== c.copy.block;
  await checkDocument(elsewhere);
  c.rejected = await verdict("credentials: check (rejected)");

  // Without JavaScript: every format is a section of its own, one after another. (axe-core
  // needs JavaScript: it checks the same page with the script blocked instead.)
  const context = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: false, viewport: { width: 1000, height: 700 }, colorScheme: "light" });
  const plain = await context.newPage();
  page = plain;
  out.noScript = {};
  await signInWithToken(plain, process.env.TERN_UI_OWNER_TOKEN, "noScript", false);
  await plain.goto(`${tern}/app/${org}/workspaces/${workspace}/credentials`, wait);
  out.noScript.credentials = {
    tablists: await plain.locator("[role=tablist]").count(),
    copyButtons: await plain.locator("#trust button").count(),
    shown: await plain.locator("#trust section.format").evaluateAll((fs) => fs.filter((f) => f.checkVisibility()).map((f) => f.id)),
    headings: await plain.locator("#trust section.format h4").evaluateAll((hs) => hs.filter((h) => h.checkVisibility()).map((h) => h.textContent)),
  };
  await context.close();
  const blocked = await owner.context().newPage();
  await blocked.route(/\/app\/assets\/tern-[^/]*\.js$/, (r) => r.abort());
  await blocked.goto(`${tern}/app/${org}/workspaces/${workspace}/credentials`, wait);
  out.noScript.blockedTablists = await blocked.locator("[role=tablist]").count();
  await check(blocked, "credentials (no script)");
  await checkDark(blocked, "credentials (no script)");
  await blocked.close();
  page = owner;
}

/// What the owner sets on the Variables page: AWS and Vault dynamic credentials.
const credentialVariables = {
  TFC_AWS_PROVIDER_AUTH: "true",
  TFC_AWS_RUN_ROLE_ARN: "arn:aws:iam::123456789012:role/tern-web",
  TFC_VAULT_PROVIDER_AUTH: "true",
  TFC_VAULT_ADDR: "https://vault.example",
  TFC_VAULT_RUN_ROLE: "tern-web",
};

/// Someone whose access to the workspace stops at its outputs: the State and Credentials tabs
/// refuse them with a page that says why.
async function outsider() {
  const { tern, org, workspace } = args;
  const p = await personPage();
  page = p;
  out.outsider = {};
  await signInWithToken(p, process.env.TERN_UI_OUTSIDER_TOKEN, "outsider");
  for (const [name, path] of [["states", "states"], ["credentials", "credentials"]]) {
    const r = await p.goto(`${tern}/app/${org}/workspaces/${workspace}/${path}`, wait);
    out.outsider[name] = { status: r.status(), title: await textOf(p.locator("h1")), error: await textOf(p.locator("#error")) };
    await check(p, `outsider: ${name} (refused)`);
  }
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
  } else if (scenario === "follow") {
    await follow();
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
