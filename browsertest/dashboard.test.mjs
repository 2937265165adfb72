// Browser tests of the operator dashboard in headless Chromium against the
// real local stack (cmd/edgesync-local with demo terminals): an operator
// watches the fleet and a terminal. Screenshots go to artifacts/browsertest/
// (and, with EDGESYNC_SCREENSHOTS=docs, the README's to docs/screenshots/).
//
//   make tools   # Node tools (tsc, playwright-core) and Debian's Chromium
//   node --test --test-concurrency=1 browsertest/*.test.mjs

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startStack, eventually } from "../client/test/stack.mjs";
import { loadClient } from "../client/test/build.mjs";
import { launch, artifactsDir, useToken, waitForText, screenshot } from "./browser.mjs";

const { EdgesyncClient, isSecretKey } = await loadClient();

const id = "demo-1";

describe("dashboard in Chromium", () => {
  let stack;
  let api;
  let browser;
  let page;
  const pageErrors = [];

  before(async () => {
    stack = await startStack({ demo: 2 });
    assert.ok(stack.users?.operator, `the ready file lists user tokens by role: ${JSON.stringify(Object.keys(stack.users ?? {}))}`);
    api = new EdgesyncClient({ baseURL: stack.httpURL, getAuthHeader: () => `Bearer ${stack.users.operator}` });
    await eventually("the demo terminals online with data", async () => {
      const { terminals } = await api.listTerminals();
      return terminals.length === 2 && terminals.every((t) => t.online && t.status.syncedAt && t.lastSeq > 0);
    });
    browser = await launch();
    page = await browser.context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err));
  });

  after(async () => {
    if (page) await page.screenshot({ path: join(artifactsDir, "last.png"), fullPage: true }).catch(() => {});
    await browser?.close();
    await stack?.stop();
  });

  it("asks for a token, then loads the fleet", { timeout: 60_000 }, async () => {
    await page.goto(stack.httpURL + "/");
    // The page is public; the API is not.
    const banner = page.locator("#error-banner");
    await waitForText(banner, /unauthenticated, HTTP 401\].*Token field/);
    await page.screenshot({ path: join(artifactsDir, "unauthenticated.png"), fullPage: true });
    await useToken(page, stack.users.operator);
    for (const t of ["demo-1", "demo-2"]) {
      const row = page.locator(`#fleet-rows tr[data-terminal-id="${t}"]`);
      await row.waitFor();
      await row.locator('[data-state="online"]').waitFor();
      await row.locator('[data-fresh="fresh"]').first().waitFor();
    }
    await waitForText(page.locator("#fleet-summary"), /2 terminals · 2 online · 0 offline/);
    assert.match(await page.locator('#fleet-rows tr[data-terminal-id="demo-1"] td').nth(2).innerText(), /ago|just now/);
    assert.equal(await page.locator("#error-banner").isVisible(), false, "no error banner");
    await page.screenshot({ path: join(artifactsDir, "fleet.png"), fullPage: true });
  });

  it("shows a terminal's status, chart and masked config", { timeout: 60_000 }, async () => {
    await page.locator('#fleet-rows a.terminal-link:text-is("demo-1")').click();
    await page.waitForURL(/#\/terminals\/demo-1$/);
    await waitForText(page.locator('[data-metric="cpu"]'), /%$/);
    await waitForText(page.locator('[data-metric="memory"]'), /%$/);
    await waitForText(page.locator('[data-metric="disk"]'), /%$/);
    // A get_status answer adds a sample, so two exist without waiting for
    // the terminal's periodic status.
    await api.runCommand(id, "get_status", undefined, { intervalMs: 100 });
    await eventually("a chart with two samples or more", async () => Number(await page.locator("#status-chart svg").getAttribute("data-samples")) >= 2);
    for (const series of ["cpu_percent", "memory_percent", "disk_percent"]) {
      // A flat line has no height, so it counts as attached, not visible.
      const line = page.locator(`#status-chart polyline[data-series="${series}"]`);
      await line.waitFor({ state: "attached" });
      assert.ok((await line.getAttribute("points")).split(" ").length >= 2, `${series} has two points or more`);
    }
    await page.locator("#config-table").waitFor();
    const rows = await page.locator("#config-table tbody tr").evaluateAll((trs) => trs.map((tr) => [tr.dataset.key, tr.querySelector("td.reported").textContent]));
    assert.ok(rows.length > 3, `config rows: ${JSON.stringify(rows)}`);
    const secrets = rows.filter(([k]) => isSecretKey(k.split(".").at(-1)));
    assert.ok(secrets.length > 0, `the demo config has a secret-like key: ${JSON.stringify(rows)}`);
    for (const [k, v] of secrets) assert.equal(v, "••••••", `config ${k} is masked`);
  });

  it("tails a terminal's logs as they arrive", { timeout: 60_000 }, async () => {
    const lines = page.locator("#log-lines .log-line");
    await lines.first().waitFor();
    const lastSeq = async () => Number(await lines.last().getAttribute("data-seq"));
    const first = await lastSeq();
    const stored = (await api.getTerminal(id)).lastSeq;
    // Lines the terminal logs from now on show up without a reload.
    await eventually(`a line after seq ${Math.max(first, stored)}`, async () => (await lastSeq()) > Math.max(first, stored));
    const seqs = await lines.evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `seq ${seqs[i]} after ${seqs[i - 1]}`);
    // What the page shows is what the API stored.
    const newest = await api.getTerminalLogs(id, { since: seqs.at(-1) - 1, count: 1 });
    const shown = await lines.last().locator(".log-msg").innerText();
    assert.equal(shown, newest.entries[0].msg);
    await screenshot(page, "terminal", { docs: true });
  });

  it("filters the logs by level and search", { timeout: 60_000 }, async () => {
    const lines = page.locator("#log-lines .log-line");
    await page.selectOption("#log-level", "error");
    await eventually("only error lines", async () => {
      const levels = await lines.evaluateAll((els) => els.map((e) => e.dataset.level));
      return levels.length > 0 && levels.every((l) => l === "error");
    });
    await page.selectOption("#log-level", "");
    const msg = await eventually("a log line", async () => (await lines.count()) > 0 && lines.last().locator(".log-msg").innerText());
    const word = msg.split(/\s+/).sort((a, b) => b.length - a.length)[0];
    await page.fill("#log-search", word.toUpperCase());
    await page.press("#log-search", "Enter");
    await eventually(`only lines with ${word}`, async () => {
      const texts = await lines.evaluateAll((els) => els.map((e) => e.textContent.toLowerCase()));
      return texts.length > 0 && texts.every((t) => t.includes(word.toLowerCase()));
    });
    await page.fill("#log-search", "no-line-says-this-8c1f");
    await page.press("#log-search", "Enter");
    await waitForText(page.locator("#log-lines"), /No lines match/);
    await page.fill("#log-search", "");
    await page.press("#log-search", "Enter");
    await lines.first().waitFor();
  });

  it("shows fresh data after a resync", { timeout: 120_000 }, async () => {
    const before = await page.locator("#status-synced").getAttribute("data-synced-at");
    await page.click("#btn-resync");
    for (const name of ["get_status", "get_config", "get_logs"]) {
      await page.locator(`#command-outcomes li[data-command="${name}"][data-state="succeeded"]`).first().waitFor();
    }
    const rid = await page.locator('#command-outcomes li[data-command="get_status"]').first().getAttribute("data-request-id");
    const cmd = await api.getCommand(id, rid);
    assert.equal(cmd.state, "succeeded");
    // The status panel now shows a status synced by that pull or later.
    await eventually("the status synced by the resync", async () => {
      const at = await page.locator("#status-synced").getAttribute("data-synced-at");
      return Date.parse(at) >= Date.parse(cmd.createdAt) && Date.parse(at) >= Date.parse(before);
    });
    await page.locator('#status-freshness [data-fresh="fresh"]').waitFor();
    await page.locator('#config-freshness [data-fresh="fresh"]').waitFor();
    // The promise the API states (freshUntil) is shown with the data.
    await eventually("the status panel showing the API's freshUntil", async () => {
      const [shown, synced] = await Promise.all([
        page.locator("#status-fresh-until").getAttribute("data-fresh-until", { timeout: 500 }),
        page.locator("#status-synced").getAttribute("data-synced-at", { timeout: 500 }),
      ]);
      const st = await api.getTerminalStatus(id);
      return st.syncedAt === synced && shown === st.freshUntil && Date.parse(shown) > Date.parse(synced);
    });
    assert.match(await page.locator("#status-fresh-until").innerText(), /fresh until \d/);
    // A config's freshness counts from the terminal's last confirmation of
    // it (a status report naming its version), which the panel shows too.
    await eventually("the config panel showing the API's freshUntil and confirmedAt", async () => {
      const [shown, confirmed] = await Promise.all([
        page.locator("#config-fresh-until").getAttribute("data-fresh-until", { timeout: 500 }),
        // After the resync the config is confirmed by the next status report.
        page.locator("#config-confirmed").getAttribute("data-confirmed-at", { timeout: 500 }),
      ]);
      const cfg = await api.getTerminalConfig(id);
      return shown === cfg.freshUntil && confirmed === cfg.confirmedAt;
    }, { timeoutMs: 60_000 });
  });

  it("shows a command's result", { timeout: 60_000 }, async () => {
    await page.click("#btn-ping");
    const ping = page.locator('#command-outcomes li[data-command="ping"]').first();
    await ping.locator(".badge").filter({ hasText: "succeeded" }).waitFor();
    assert.equal(await ping.getAttribute("data-state"), "succeeded");
    await page.click("#btn-get_status");
    const status = page.locator('#command-outcomes li[data-command="get_status"]').first();
    await waitForText(status.locator(".outcome-detail"), /cpu \d+(\.\d)?%, memory \d+(\.\d)?%, disk \d+(\.\d)?%/);
    await page.click("#btn-get_logs");
    const logs = page.locator('#command-outcomes li[data-command="get_logs"]').first();
    await waitForText(logs.locator(".outcome-detail"), /lines? returned/);
  });

  it("shows a command that timed out", { timeout: 60_000 }, async () => {
    // The terminal answers at once; the API's answer is rewritten to what a
    // terminal that never answered produces, to check how it is shown.
    await page.route("**/terminals/demo-1/commands/*", async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      await route.fulfill({ response: res, json: { ...body, state: "timed_out", result: undefined, completedAt: undefined } });
    });
    try {
      await page.click("#btn-get_config");
      const row = page.locator('#command-outcomes li[data-command="get_config"]').first();
      await row.locator(".badge").filter({ hasText: "timed out" }).waitFor();
      assert.equal(await row.getAttribute("data-state"), "timed_out");
      assert.match(await row.locator(".outcome-detail").innerText(), /no answer by/);
    } finally {
      await page.unroute("**/terminals/demo-1/commands/*");
    }
  });

  it("shows an error from the API", { timeout: 60_000 }, async () => {
    await page.goto(stack.httpURL + "/#/terminals/no-such-terminal");
    const banner = page.locator("#error-banner");
    await banner.waitFor({ state: "visible" });
    await waitForText(banner, /not_found, HTTP 404/);
    assert.match(await banner.innerText(), /no-such-terminal/);
    await page.screenshot({ path: join(artifactsDir, "error.png"), fullPage: true });
    // Going back to the fleet clears it.
    await page.goto(stack.httpURL + "/#/");
    await page.locator('#fleet-rows tr[data-terminal-id="demo-1"]').waitFor();
    await banner.waitFor({ state: "hidden" });
  });

  it("raised no script errors", () => {
    assert.deepEqual(pageErrors.map(String), []);
  });
});

