// A staged rollout on the demo fleet, driven from the dashboard in headless
// Chromium against the real local stack (its scheduled function every
// 200 ms instead of every minute): an operator starts a merge patch in
// waves of one, watches the waves fill until the rollout completes, sees
// each terminal's outcome, and rolls it back.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startStack, eventually } from "../client/test/stack.mjs";
import { loadClient } from "../client/test/build.mjs";
import { launch, artifactsDir, useToken, waitForText, screenshot } from "./browser.mjs";

const { EdgesyncClient } = await loadClient();

const DEMO = 3;

describe("a group rollout from the dashboard in Chromium", () => {
  let stack;
  let api;
  let browser;
  let page;
  const pageErrors = [];
  const logLevel = async (id) => (await api.getTerminalConfig(id)).data?.log_level;

  before(async () => {
    stack = await startStack({ demo: DEMO, args: ["--schedule-every", "200ms"] });
    api = new EdgesyncClient({ baseURL: stack.httpURL, getAuthHeader: () => `Bearer ${stack.users.operator}` });
    await eventually("the demo terminals online with their config", async () => {
      const { terminals } = await api.listTerminals({ group: "demo" });
      if (terminals.length !== DEMO || !terminals.every((t) => t.online)) return false;
      for (const t of terminals) if ((await logLevel(t.id)) !== "info") return false;
      return true;
    });
    browser = await launch();
    page = await browser.context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err));
  });

  after(async () => {
    if (page) await page.screenshot({ path: join(artifactsDir, "rollouts-last.png"), fullPage: true }).catch(() => {});
    await browser?.close();
    await stack?.stop();
  });

  it("starts a rollout on the demo group and sees its waves fill until it completes", { timeout: 90_000 }, async () => {
    await page.goto(stack.httpURL + "/#/rollouts?group=demo");
    await useToken(page, stack.users.operator);
    await waitForText(page.locator("#rollout-summary"), /No rollouts in demo yet/);
    await page.fill("#rollout-doc", '{"log_level": "debug"}');
    await page.fill("#rollout-wave-size", "1");
    await page.click("#rollout-start");
    await page.waitForURL(/#\/rollouts\/demo\/\d{13}-/);
    await page.locator("#rollout-waves li[data-wave]").nth(DEMO - 1).waitFor();
    assert.equal(await page.locator("#rollout-waves li[data-wave]").count(), DEMO, "one wave per demo terminal");
    await page.locator('#rollout-state [data-state="completed"]').waitFor({ timeout: 60_000 });
    for (let i = 0; i < DEMO; i++) {
      const wave = page.locator(`#rollout-waves li[data-wave="${i}"]`);
      assert.equal(await wave.getAttribute("data-outcome"), "passed", `wave ${i + 1} passed`);
      assert.equal(await wave.getAttribute("data-done"), "1", `wave ${i + 1} filled`);
      assert.equal(await wave.locator(".seg-ok").count(), 1, `wave ${i + 1} shows a success`);
    }
    await waitForText(page.locator("#rollout-progress"), new RegExp(`^${DEMO} of ${DEMO} terminals done · ${DEMO} succeeded`));
    await screenshot(page, "rollout-completed", { docs: true });
    for (let i = 1; i <= DEMO; i++) {
      await eventually(`demo-${i} runs the new config`, async () => (await logLevel(`demo-${i}`)) === "debug");
    }
    // A wave's terminals and their outcome.
    await page.click('#rollout-waves li[data-wave="0"] .wave-name');
    await page.locator('#rollout-wave-detail tr[data-terminal-id="demo-1"] [data-target-state="succeeded"]').waitFor();
    // The list shows it.
    await page.click('#main h2 a[href^="#/rollouts"]');
    await page.locator("#rollout-rows tr[data-rollout-id]").first().locator('[data-state="completed"]').waitFor();
    assert.deepEqual(pageErrors, []);
  });

  it("rolls the rollout back from the dashboard", { timeout: 90_000 }, async () => {
    await page.locator("#rollout-rows a.rollout-link").first().click();
    await page.locator('#rollout-state [data-state="completed"]').waitFor();
    assert.equal(await page.locator("#rollout-pause").isDisabled(), true, "a completed rollout does not pause");
    await page.click("#rollout-rollback");
    await waitForText(page.locator("#rollout-rollback"), /Confirm/);
    await page.click("#rollout-rollback");
    await page.locator('#rollout-state [data-state="rolled_back"]').waitFor({ timeout: 60_000 });
    for (let i = 1; i <= DEMO; i++) {
      await eventually(`demo-${i} runs its previous config again`, async () => (await logLevel(`demo-${i}`)) === "info");
    }
    await waitForText(page.locator("#rollout-progress"), new RegExp(`rolled back: ${DEMO} terminals`));
    assert.equal(await page.locator("#error-banner").isVisible(), false, "no error banner");
    assert.deepEqual(pageErrors, []);
  });
});
