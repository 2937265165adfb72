// The dashboard runs the fleet (issue 15), walked in headless Chromium
// against the real local stack with each role's real token: a viewer sees
// a read-only dashboard; an operator edits a demo terminal's config and
// sees it applied; an admin registers a terminal, runs a real agent with
// the configuration the page shows and sees its lines in the live tail,
// rotates and revokes its tokens and reads the audit trail with filters.
// Plus the fixes: the token field, an invalid token, a never-connected
// terminal's logs, log lines on a narrow screen.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, appendFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startStack, eventually } from "../client/test/stack.mjs";
import { loadClient } from "../client/test/build.mjs";
import { launch, buildAgent, useToken, waitForText, screenshot } from "./browser.mjs";

const { EdgesyncClient } = await loadClient();

describe("the dashboard by role in Chromium", () => {
  let stack;
  let admin;
  let browser;
  let page;
  let agent;
  let agentOutput = "";
  const work = mkdtempSync(join(tmpdir(), "edgesync-walk-"));
  const pageErrors = [];
  const newID = "walk-1";

  before(async () => {
    buildAgent();
    stack = await startStack({ demo: 2 });
    admin = new EdgesyncClient({ baseURL: stack.httpURL, getAuthHeader: () => `Bearer ${stack.users.admin}` });
    await eventually("the demo terminals online with config and logs", async () => {
      const { terminals } = await admin.listTerminals();
      return terminals.filter((t) => t.id.startsWith("demo-")).every((t) => t.online && t.config.syncedAt && t.lastSeq > 0) && terminals.length === 2;
    });
    browser = await launch();
    await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.httpURL });
    page = await browser.context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err));
  });

  after(async () => {
    if (agent && agent.exitCode === null) {
      agent.kill("SIGTERM");
      await new Promise((resolve) => agent.once("exit", resolve));
    }
    await browser?.close();
    await stack?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const signIn = async (role) => {
    await page.goto(`${stack.httpURL}/`);
    await useToken(page, stack.users[role]);
    await page.locator(`#whoami-role[data-role="${role}"]`).waitFor();
    await page.locator('#fleet-rows tr[data-terminal-id="demo-1"]').waitFor();
  };

  it("says the token is required, and an invalid one leaves no loading message", { timeout: 60_000 }, async () => {
    await page.goto(`${stack.httpURL}/`);
    const placeholder = await page.getAttribute("#api-token", "placeholder");
    assert.doesNotMatch(placeholder, /optional/i);
    assert.match(placeholder, /required/);
    await waitForText(page.locator("#error-banner"), /unauthenticated, HTTP 401\].*Token field/);
    await page.locator("#not-signed-in").waitFor();
    await useToken(page, "not-a-token");
    await waitForText(page.locator("#error-banner"), /Signing in failed: .*HTTP 401/);
    await waitForText(page.locator("#not-signed-in"), /did not accept the token/);
    assert.doesNotMatch(await page.locator("#main").innerText(), /Loading/);
  });

  it("shows a viewer no button it cannot use, and what a role is needed for", { timeout: 60_000 }, async () => {
    await signIn("viewer");
    assert.equal(await page.locator('#nav a[data-nav="audit"]').isVisible(), false);
    assert.equal(await page.locator('#nav a[data-nav="register"]').isVisible(), false);
    assert.equal(await page.locator("#fleet-register").count(), 0);
    await page.click('#fleet-rows a.terminal-link:text-is("demo-1")');
    await page.locator("#config-table").waitFor();
    await page.locator("#log-lines .log-line").first().waitFor();
    for (const sel of ["#btn-resync", "[data-command]", "#btn-edit-config", "#credentials-panel", "#btn-rotate", ".revoke"]) {
      assert.equal(await page.locator(sel).count(), 0, `a viewer sees no ${sel}`);
    }
    assert.match(await page.locator("#read-only-note").innerText(), /needs the operator role; you are signed in as viewer/);
    await screenshot(page, "viewer");

    for (const [hash, what] of [["#/audit", "The audit trail"], ["#/register", "Registering a terminal"]]) {
      await page.goto(`${stack.httpURL}/${hash}`);
      const text = await waitForText(page.locator("#needs-role"), /needs the admin role/);
      assert.match(text, new RegExp(`${what} needs the admin role; you are signed in as viewer \\(local-viewer\\)`));
    }

    // A refusal by the API says the role it needs and who the user is: the
    // API's real 403 for a viewer, served in place of a read the page makes.
    const res = await fetch(`${stack.httpURL}/audit`, { headers: { Authorization: `Bearer ${stack.users.viewer}` } });
    assert.equal(res.status, 403);
    const refusal = await res.json();
    await page.route("**/terminals/demo-1/status/history*", (route) => route.fulfill({ status: 403, json: refusal }));
    try {
      await page.goto(`${stack.httpURL}/#/terminals/demo-1`);
      const text = await waitForText(page.locator("#error-banner"), /forbidden, HTTP 403/);
      assert.match(text, /needs the admin role/);
      assert.match(text, /you are signed in as viewer/);
    } finally {
      await page.unroute("**/terminals/demo-1/status/history*");
    }
  });

  it("lets an operator edit a config, validated, secrets kept, and shows it applied", { timeout: 90_000 }, async () => {
    await signIn("operator");
    assert.equal(await page.locator('#nav a[data-nav="audit"]').isVisible(), false, "operators do not read the audit trail");
    await page.goto(`${stack.httpURL}/#/terminals/demo-1`);
    await page.locator("#config-table").waitFor();
    await page.locator("#btn-resync").waitFor();
    assert.equal(await page.locator("#credentials-panel").count(), 0);
    const before = Number(await page.locator('#config-table tr[data-key="status_interval"] td.reported').innerText());
    const wanted = before === 7 ? 6 : 7;

    await page.click("#btn-edit-config");
    const editor = page.locator("#config-editor");
    const original = JSON.parse(await editor.inputValue());
    assert.equal(original.token, "[redacted]", "the editor shows the token masked, as the API keeps it");
    assert.equal(original.status_interval, before);

    // Invalid JSON is explained where it is, and cannot be applied.
    await editor.fill('{\n  "status_interval": 7,\n  "token" "x"\n}');
    await waitForText(page.locator("#config-check"), /invalid.*not JSON.*line 3/s);
    assert.equal(await page.locator("#config-apply").isDisabled(), true);
    await editor.fill("[1, 2]");
    await waitForText(page.locator("#config-check"), /must be a JSON object/);
    assert.equal(await page.locator("#config-apply").isDisabled(), true);

    await editor.fill(JSON.stringify({ ...original, status_interval: wanted }, null, 2));
    await waitForText(page.locator("#config-check"), /valid JSON · 1 change from what the terminal reports/);
    await waitForText(page.locator('#config-preview li[data-key="status_interval"]'), new RegExp(`status_interval: ${before} → ${wanted}`));
    await screenshot(page, "config-editor", { docs: true, locator: page.locator("#config-panel") });

    const put = page.waitForRequest((r) => r.method() === "PUT" && r.url().endsWith("/terminals/demo-1/config"));
    await page.click("#config-apply");
    const sent = JSON.parse((await put).postData());
    assert.equal(sent.config.token, "[redacted]", "the token goes back masked: the terminal keeps its value");
    assert.equal(sent.config.status_interval, wanted);

    await waitForText(page.locator("#config-set-state"), /succeeded/, 30_000);
    await waitForText(page.locator('#config-table tr[data-key="status_interval"] td.reported'), new RegExp(`^${wanted}$`), 30_000);
    await waitForText(page.locator("#config-diff-summary"), /runs the desired config/, 30_000);
    await waitForText(page.locator('#config-table tr[data-key="token"] td.reported'), /^••••••$/);
    const t = await admin.getTerminal("demo-1");
    assert.equal(t.online, true, "the terminal is still connected with its token");
    await screenshot(page, "config-applied");
  });

  it("lets an admin register a terminal and shows its token once with the agent configuration", { timeout: 90_000 }, async () => {
    await signIn("admin");
    await page.click('#nav a[data-nav="register"]');
    await page.fill("#register-id", "bad id!");
    await waitForText(page.locator("#register-check"), /not a terminal id/);
    await page.fill("#register-id", newID);
    await page.fill("#register-name", "Walkthrough terminal");
    await page.fill("#register-groups", "demo");
    await page.click("#register-submit");
    const token = await page.locator("#new-token").inputValue();
    assert.ok(token.length >= 32, `a token: ${token}`);
    await page.click("#copy-token");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token, "Copy token copies the token");
    const snippetText = await page.locator("#agent-snippet").innerText();
    await page.click("#copy-snippet");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), snippetText);
    const snippet = JSON.parse(snippetText);
    assert.equal(snippet.terminal_id, newID);
    assert.equal(snippet.token, token);
    assert.equal(snippet.server_url, stack.wsURL, "the snippet names the stack's WebSocket URL");
    await screenshot(page, "register");

    // The token is not shown again.
    await page.goto(`${stack.httpURL}/#/terminals/${newID}`);
    await page.locator("#credentials-panel tr[data-credential-id]").waitFor();
    assert.doesNotMatch(await page.locator("#main").innerText(), new RegExp(token));

    // Never connected: no "live".
    await page.locator('[data-state="never"]').first().waitFor();
    await waitForText(page.locator("#log-stats"), /never connected/);
    assert.equal(await page.locator("#log-mode").getAttribute("data-mode"), "never");
    assert.doesNotMatch(await page.locator("#log-stats").innerText(), /live/);

    // An agent runs with the configuration exactly as shown; the
    // environment only puts its spool and its log file in the test's
    // directory (the documented paths need root).
    const configFile = join(work, "agent.json");
    writeFileSync(configFile, snippetText, { mode: 0o600 });
    const logFile = join(work, "app.log");
    writeFileSync(logFile, "");
    agent = spawn(buildAgent(), ["-config", configFile], {
      env: { ...process.env, EDGESYNC_SPOOL_DIR: join(work, "spool"), EDGESYNC_LOG_INPUTS: logFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    agent.stdout.setEncoding("utf8").on("data", (c) => (agentOutput += c));
    agent.stderr.setEncoding("utf8").on("data", (c) => (agentOutput += c));
    await eventually(`${newID} online (agent output: ${agentOutput.slice(-500)})`, async () => (await admin.getTerminal(newID)).online, { timeoutMs: 30_000 });
    await page.locator('#terminal-facts [data-state="online"]').waitFor();
    await page.locator('#log-mode[data-mode="live"]').waitFor();
    appendFileSync(logFile, "walkthrough line one\nERROR walkthrough line two\n");
    await page.locator('#log-lines .log-line .log-msg:text-matches("walkthrough line one")').waitFor({ timeout: 30_000 });
    await page.locator('#log-lines .log-line .log-msg:text-matches("walkthrough line two")').waitFor({ timeout: 30_000 });
  });

  it("lets an admin rotate and revoke a terminal's tokens", { timeout: 60_000 }, async () => {
    await page.goto(`${stack.httpURL}/#/terminals/${newID}`);
    const rows = page.locator("#credential-rows tr[data-credential-id]");
    await rows.first().waitFor();
    assert.equal(await rows.count(), 1);
    const first = await rows.first().getAttribute("data-credential-id");
    await page.selectOption("#rotate-overlap", "0");
    await page.click("#btn-rotate");
    const rotated = await page.locator("#rotate-result #new-token").inputValue();
    assert.ok(rotated.length >= 32);
    await eventually("two credentials, the first ended", async () => (await rows.count()) === 2 && (await page.locator(`#credential-rows tr[data-credential-id="${first}"]`).getAttribute("data-state")) === "revoked");
    const second = await page.locator('#credential-rows tr[data-state="active"]').getAttribute("data-credential-id");
    assert.notEqual(second, first);

    // Revoking asks for a second click.
    const revoke = page.locator(`#credential-rows tr[data-credential-id="${second}"] button.revoke`);
    await revoke.click();
    await waitForText(revoke, /Confirm revoke/);
    assert.equal((await admin.listCredentials(newID)).credentials.find((c) => c.id === second).notAfter, undefined, "one click revokes nothing");
    await revoke.click();
    await page.locator(`#credential-rows tr[data-credential-id="${second}"][data-state="revoked"]`).waitFor();
    const { credentials } = await admin.listCredentials(newID);
    assert.ok(credentials.every((c) => c.notAfter && Date.parse(c.notAfter) <= Date.now()), `every credential ended: ${JSON.stringify(credentials)}`);
  });

  it("shows the audit trail with filters", { timeout: 60_000 }, async () => {
    await page.click('#nav a[data-nav="audit"]');
    const rows = page.locator("#audit-rows tr");
    await rows.first().waitFor();
    const actions = async () => rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.action));
    for (const a of ["terminal.create", "credential.rotate", "credential.revoke", "config.set"]) {
      assert.ok((await actions()).includes(a), `the trail lists ${a}: ${await actions()}`);
    }
    await screenshot(page, "audit", { docs: true });
    const configRow = page.locator('#audit-rows tr[data-action="config.set"]').first();
    assert.match(await configRow.innerText(), /local-operator/);
    assert.match(await configRow.locator(".audit-detail").innerText(), /status_interval: \d+ → \d+/);

    await page.selectOption("#audit-action", "credential.revoke");
    await eventually("only revocations", async () => {
      const got = await actions();
      return got.length > 0 && got.every((a) => a === "credential.revoke");
    });
    assert.match(page.url(), /#\/audit\?action=credential\.revoke/);

    await page.selectOption("#audit-action", "");
    await page.fill("#audit-actor", "local-operator");
    await page.click("#audit-apply");
    await eventually("only the operator's records", async () => {
      const got = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.actor));
      return got.length > 0 && got.every((a) => a === "local-operator");
    });

    await page.fill("#audit-actor", "");
    await page.fill("#audit-terminal", newID);
    await page.fill("#audit-since", "1h");
    await page.click("#audit-apply");
    await eventually(`only ${newID}'s records`, async () => {
      const got = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.terminalId));
      return got.length >= 3 && got.every((t) => t === "walk-1");
    });

    await page.fill("#audit-since", "");
    await page.fill("#audit-until", "2001-01-01T00:00:00Z");
    await page.click("#audit-apply");
    await waitForText(page.locator("#audit-summary"), /No records match the filters/);

    // The filters live in the address: a reload keeps them.
    await page.reload();
    assert.equal(await page.inputValue("#audit-terminal"), newID);
    await waitForText(page.locator("#audit-summary"), /No records match the filters/);
  });

  it("wraps log lines on a narrow screen with the message at full width", { timeout: 60_000 }, async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await page.goto(`${stack.httpURL}/#/terminals/demo-1`);
      const lines = page.locator("#log-lines .log-line");
      await lines.nth(3).waitFor();
      const layout = await page.locator("#log-lines").evaluate((list) => ({
        listWidth: list.clientWidth,
        overflow: list.scrollWidth - list.clientWidth,
        msgs: [...list.querySelectorAll(".log-line")].map((l) => {
          const msg = l.querySelector(".log-msg").getBoundingClientRect();
          const line = l.getBoundingClientRect();
          return { msg: msg.width, line: line.width, left: msg.left - line.left };
        }),
      }));
      assert.ok(layout.overflow <= 1, `no sideways scrolling: ${layout.overflow}px too wide`);
      for (const m of layout.msgs) {
        assert.ok(m.msg >= 0.8 * m.line - 20, `a message takes the line's width: ${JSON.stringify(m)} of ${layout.listWidth}`);
      }
      await screenshot(page, "narrow");
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it("raised no script errors", () => {
    assert.deepEqual(pageErrors.map(String), []);
  });
});
