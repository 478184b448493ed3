// Drives Debian's Chromium with playwright-core (no browser download) through tern's pages,
// one scenario per run, and prints what it saw as JSON on stdout.
//
// node browser.mjs sign-in --tern URL --user NAME
//   tern's /app → sign-in page → the provider's login and consent → back; then sign out.
// node browser.mjs authorize --url URL [--tern URL --user NAME]
//   a `terraform login` authorization URL: sign in if asked, then Allow.
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
const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
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
