// Fleet-wide log search and alerts in headless Chromium against the real
// local stack (cmd/edgesync-local with two demo terminals, its scheduled
// function every second): an operator of the demo group searches every
// terminal's logs, writes an offline alert rule on the alerts page, a demo
// terminal is stopped (the stack's POST /demo/{id}/stop) and the alert
// appears, is delivered to the stack's local sink (SNS in AWS) and is
// acknowledged with its button.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startStack, eventually } from "../client/test/stack.mjs";
import { loadClient } from "../client/test/build.mjs";
import { launch, artifactsDir, useToken, waitForText, screenshot } from "./browser.mjs";

const { EdgesyncClient } = await loadClient();

describe("search and alerts in Chromium", () => {
  let stack;
  let api;
  let browser;
  let page;
  const pageErrors = [];

  before(async () => {
    stack = await startStack({ demo: 2, args: ["--schedule-every", "1s"] });
    api = new EdgesyncClient({ baseURL: stack.httpURL, getAuthHeader: () => `Bearer ${stack.users.operator}` });
    await eventually("the demo terminals online with log lines", async () => {
      const { terminals } = await api.listTerminals();
      return terminals.length === 2 && terminals.every((t) => t.online && t.lastSeq > 5);
    });
    browser = await launch();
    page = await browser.context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err));
    await page.goto(stack.httpURL + "/");
    await useToken(page, stack.users.operator);
    await page.locator("#fleet-rows tr[data-terminal-id]").first().waitFor();
  });

  after(async () => {
    if (page) await page.screenshot({ path: join(artifactsDir, "fleetops-last.png"), fullPage: true }).catch(() => {});
    await browser?.close();
    await stack?.stop();
  });

  it("searches the logs of every terminal, newest first", { timeout: 60_000 }, async () => {
    await page.locator('#nav a[data-nav="logs"]').click();
    await page.waitForURL(/#\/logs/);
    await waitForText(page.locator("#search-summary"), /lines? from 2 terminals/);
    const rows = page.locator("#search-rows tr");
    const seen = await rows.evaluateAll((trs) => trs.map((tr) => ({ id: tr.dataset.terminalId, ts: tr.querySelector("time").getAttribute("datetime") })));
    assert.ok(seen.length > 0, "lines found");
    assert.deepEqual([...new Set(seen.map((r) => r.id))].sort(), ["demo-1", "demo-2"], "lines of both demo terminals");
    const times = seen.map((r) => Date.parse(r.ts));
    assert.deepEqual(times, [...times].sort((a, b) => b - a), "newest first");
    await screenshot(page, "search", { docs: true, fullPage: false });
    // A filter the API applies, kept in the address.
    await page.selectOption("#search-level", "warn");
    await eventually("only warn and error lines", async () => {
      const levels = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.level));
      return (await page.locator("#search-summary").innerText()).match(/line|No lines/) && levels.every((l) => l === "warn" || l === "error");
    });
    assert.match(page.url(), /level=warn/);
    assert.equal(pageErrors.length, 0, `page errors: ${pageErrors.join("; ")}`);
  });

  it("shows an alert when a demo terminal is stopped, and acknowledges it", { timeout: 90_000 }, async () => {
    await page.locator('#nav a[data-nav="alerts"]').click();
    await page.waitForURL(/#\/alerts/);
    await waitForText(page.locator("#rules-title"), /Rules of demo/);
    await page.selectOption("#rule-kind", "offline");
    await page.fill("#rule-name", "terminal stopped");
    await page.fill("#rule-minutes", "0");
    await page.click("#rule-add");
    await page.locator('#rules li[data-kind="offline"]').waitFor();
    await waitForText(page.locator("#alerts-summary"), /No alerts/);

    // Stop demo-1 as a switched-off terminal stops.
    const stackOrigin = new URL(stack.metricsURL).origin;
    const res = await fetch(`${stackOrigin}/demo/demo-1/stop`, { method: "POST" });
    assert.equal(res.status, 204, await res.text());

    const row = page.locator('#alerts-rows tr[data-terminal-id="demo-1"]');
    await row.waitFor({ timeout: 30_000 });
    assert.equal(await row.getAttribute("data-state"), "open");
    assert.match(await row.locator(".alert-message").innerText(), /offline for/);
    assert.equal(await page.locator('#alerts-rows tr[data-terminal-id="demo-2"]').count(), 0, "demo-2 runs on: no alert");
    await screenshot(page, "alerts", { docs: true });

    // Delivered to the local sink, as to the SNS topic in AWS.
    await eventually("the alert delivered to the local sink", async () => {
      const snap = await (await fetch(stack.alertsURL)).json();
      return snap.delivered.some((d) => d.terminalId === "demo-1" && d.state === "open");
    });

    await row.locator("button.ack").click();
    await eventually("the alert acknowledged", async () => (await row.getAttribute("data-state")) === "acknowledged");
    await waitForText(row, /by local-operator/);
    const { alerts } = await api.listAlerts({ group: "demo" });
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0].state, "acknowledged");
    assert.equal(alerts[0].acknowledgedBy, "local-operator");
    assert.equal(await page.locator("#error-banner").isVisible(), false, "no error banner");
    assert.equal(pageErrors.length, 0, `page errors: ${pageErrors.join("; ")}`);
  });
});
