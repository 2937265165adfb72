// The fleet page at scale, in headless Chromium against the real local
// stack: 2,000 terminals registered through the HTTP API beside the demo
// terminals. The page filters and pages on the server (GET /terminals with
// group, q, online, agentVersion, limit and cursor) and never loads the
// whole fleet: every request it makes asks for one page, and each answer
// holds at most that.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startStack, eventually } from "../client/test/stack.mjs";
import { loadClient } from "../client/test/build.mjs";
import { launch, useToken, waitForText, screenshot } from "./browser.mjs";

const { EdgesyncClient } = await loadClient();

const REGISTERED = 2000;
const DEMO = 3;

/** registeredID and registeredName name the i-th registered terminal. */
const registeredID = (i) => `fleet-${String(i).padStart(4, "0")}`;
const registeredName = (i) => `Line ${i % 20} camera ${i}`;

describe("the fleet page with 2,000 terminals in Chromium", () => {
  let stack;
  let admin;
  let browser;
  let page;
  const pageErrors = [];
  /** listings are the GET /terminals requests the page made and what each answered. */
  const listings = [];

  before(async () => {
    stack = await startStack({ demo: DEMO });
    admin = new EdgesyncClient({ baseURL: stack.httpURL, getAuthHeader: () => `Bearer ${stack.users.admin}` });
    // Register through the HTTP API, a few requests at a time.
    let next = 0;
    const worker = async () => {
      while (next < REGISTERED) {
        const i = next++;
        await admin.createTerminal({ id: registeredID(i), name: registeredName(i), groups: [i % 2 === 0 ? "line-a" : "line-b"] });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await eventually("the demo terminals online with a status", async () => {
      const { terminals } = await admin.listTerminals({ group: "demo" });
      return terminals.length === DEMO && terminals.every((t) => t.online && t.summary?.cpu !== undefined);
    });
    browser = await launch();
    page = await browser.context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err));
    page.on("response", async (res) => {
      const u = new URL(res.url());
      if (u.pathname !== "/terminals" || res.request().method() !== "GET") return;
      try {
        const body = await res.json();
        listings.push({ params: Object.fromEntries(u.searchParams), count: body.terminals?.length ?? 0, next: body.nextCursor });
      } catch {
        // aborted by a newer request
      }
    });
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  /** rows returns the ids of the fleet table's rows, in order. */
  const rows = () => page.locator("#fleet-rows tr[data-terminal-id]").evaluateAll((trs) => trs.map((tr) => tr.dataset.terminalId));

  /** settled waits until the table shows rows satisfying ok and no request is in flight. */
  const settled = async (what, ok) => eventually(what, async () => (await page.locator("#fleet-summary").innerText()).startsWith("Page") && ok(await rows()), { timeoutMs: 30_000 });

  it("pages through the fleet a page at a time", { timeout: 120_000 }, async () => {
    await page.goto(`${stack.httpURL}/`);
    await useToken(page, stack.users.admin);
    await settled("a first page of 50", (ids) => ids.length === 50);
    let ids = await rows();
    assert.deepEqual(ids.slice(0, DEMO), ["demo-1", "demo-2", "demo-3"]);
    assert.deepEqual(ids.slice(DEMO), Array.from({ length: 50 - DEMO }, (_, i) => registeredID(i)));
    await waitForText(page.locator("#fleet-summary"), /^Page 1 · 50 terminals · 3 online · 47 offline/);
    // The demo terminals' rows summarise their status.
    for (const id of ["demo-1", "demo-2", "demo-3"]) {
      const row = page.locator(`#fleet-rows tr[data-terminal-id="${id}"]`);
      for (const m of ["cpu", "memory", "disk"]) assert.match(await row.locator(`[data-metric="${m}"]`).innerText(), /^\d+(\.\d)?%$/, `${id} ${m}`);
      assert.match(await row.locator('[data-metric="dropped"]').innerText(), /^\d+$/);
    }
    assert.equal(await page.locator(`#fleet-rows tr[data-terminal-id="${registeredID(0)}"] [data-state="never"]`).count(), 1, "a registered terminal reads never connected");

    await page.click("#fleet-next");
    await settled("page 2", (ids) => ids[0] === registeredID(47));
    ids = await rows();
    assert.deepEqual(ids, Array.from({ length: 50 }, (_, i) => registeredID(47 + i)));
    await waitForText(page.locator("#fleet-position"), /page 2/);
    await page.click("#fleet-next");
    await settled("page 3", (ids) => ids[0] === registeredID(97));
    await page.click("#fleet-prev");
    await settled("page 2 again", (ids) => ids[0] === registeredID(47));
    await page.selectOption("#fleet-size", "200");
    await settled("a first page of 200", (ids) => ids.length === 200 && ids[0] === "demo-1");
    await page.selectOption("#fleet-size", "25");
    await settled("a first page of 25", (ids) => ids.length === 25);
    // The README's picture: the top of the first page, the demo terminals
    // online with their status summary above the registered ones.
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, "fleet", { docs: true, fullPage: false });
    await page.selectOption("#fleet-size", "50");
    await settled("a first page of 50", (ids) => ids.length === 50);
  });

  it("filters on the server by name, group, state and agent version", { timeout: 120_000 }, async () => {
    // Name: "camera 7" names 111 of the terminals, scattered in id order.
    await page.fill("#fleet-q", "camera 7");
    await page.press("#fleet-q", "Enter");
    const sevens = Array.from({ length: REGISTERED }, (_, i) => i).filter((i) => registeredName(i).includes("camera 7")).map(registeredID);
    await settled("the first 50 terminals named camera 7…", (ids) => ids.length === 50 && ids[0] === sevens[0]);
    assert.deepEqual(await rows(), sevens.slice(0, 50));
    assert.match(page.url(), /[?&]q=camera\+7/);
    // The search followed short pages; the refreshes every 5 s make its
    // first request only (a sparse filter's search, repeated every 5 s, was
    // 12,000 read units a second of a 100,000-terminal table) and keep the
    // rows the search found further on.
    await waitForText(page.locator("#fleet-refresh-note"), /found in [2-9] requests; refreshed every 5 s from the first only/);
    const since = listings.length;
    await eventually("two refreshes", async () => listings.length >= since + 3, { timeoutMs: 30_000 });
    for (const l of listings.slice(since + 1)) {
      assert.deepEqual([l.params.q, l.params.limit, l.params.cursor], ["camera 7", "50", undefined], `a refresh asked ${JSON.stringify(l.params)}`);
    }
    assert.deepEqual(await rows(), sevens.slice(0, 50), "the rows after the refreshes");
    await page.click("#fleet-next");
    await settled("the next 50", (ids) => ids[0] === sevens[50]);
    assert.deepEqual(await rows(), sevens.slice(50, 100));
    await page.click("#fleet-next");
    await settled("the last 11", (ids) => ids.length === sevens.length - 100 && ids[0] === sevens[100]);
    assert.equal(await page.locator("#fleet-next").isDisabled(), true, "no page after the last");

    // Group (through the store's group index) and search together.
    await page.fill("#fleet-q", "");
    await page.fill("#fleet-group", "line-b");
    await page.press("#fleet-group", "Enter");
    await settled("a page of line-b", (ids) => ids.length === 50 && ids[0] === registeredID(1));
    assert.deepEqual(await rows(), Array.from({ length: 50 }, (_, i) => registeredID(2 * i + 1)));
    await page.fill("#fleet-q", "line 3 ");
    await page.press("#fleet-q", "Enter");
    await settled("line-b terminals named Line 3 …", (ids) => ids.length === 50 && ids.every((id) => Number(id.slice(6)) % 20 === 3));

    // State: only the demo terminals are online, and they run agent "demo".
    await page.click("#fleet-clear");
    await settled("the unfiltered first page", (ids) => ids.length === 50);
    await page.selectOption("#fleet-online", "true");
    await settled("the online terminals", (ids) => ids.join() === "demo-1,demo-2,demo-3");
    await page.click("#fleet-clear");
    await settled("the unfiltered first page", (ids) => ids.length === 50);
    await page.fill("#fleet-agent", "demo");
    await page.press("#fleet-agent", "Enter");
    await settled("agent version demo", (ids) => ids.join() === "demo-1,demo-2,demo-3");
    assert.match(page.url(), /[?&]agentVersion=demo/);
    await page.selectOption("#fleet-online", "false");
    // Nothing matches: the page scans the whole fleet, a bounded read per request.
    await waitForText(page.locator("#fleet-rows"), /No terminal matches the filters/, 30_000);
    await page.click("#fleet-clear");
    await settled("the unfiltered first page", (ids) => ids.length === 50 && ids[0] === "demo-1");
  });

  it("sorts by a column within the page, and says so", { timeout: 60_000 }, async () => {
    await page.click('button.sort[data-sort="cpu"]');
    await waitForText(page.locator("#fleet-sort-note"), /Sorted by cpu within this page only/);
    const cpu = await page.locator('#fleet-rows [data-metric="cpu"]').evaluateAll((tds) => tds.map((td) => td.textContent));
    const values = cpu.map((t) => (t === "—" ? -1 : Number.parseFloat(t)));
    assert.deepEqual(values, [...values].sort((a, b) => a - b), "ascending by CPU");
    await page.click('button.sort[data-sort="cpu"]');
    await waitForText(page.locator("#fleet-sort-note"), /descending/);
    const desc = (await page.locator('#fleet-rows [data-metric="cpu"]').evaluateAll((tds) => tds.map((td) => td.textContent))).map((t) => (t === "—" ? -1 : Number.parseFloat(t)));
    assert.deepEqual(desc, [...desc].sort((a, b) => b - a), "descending by CPU");
    assert.ok(desc[0] >= 0, "a demo terminal with a CPU figure leads");
    await page.click('button.sort[data-sort="id"]');
    await waitForText(page.locator("#fleet-sort-note"), /In id order, as the API pages/);
  });

  it("never asked for more than a page", () => {
    assert.ok(listings.length > 10, `the page listed terminals ${listings.length} times`);
    for (const l of listings) {
      const limit = Number(l.params.limit);
      assert.ok(limit >= 1 && limit <= 200, `a request asked for ${l.params.limit} terminals: ${JSON.stringify(l.params)}`);
      assert.ok(l.count <= limit, `an answer held ${l.count} terminals for limit ${limit}`);
    }
    const most = Math.max(...listings.map((l) => l.count));
    assert.ok(most < REGISTERED / 2, `no answer held a large part of the fleet (largest ${most})`);
  });

  it("raised no script errors", () => {
    assert.deepEqual(pageErrors.map(String), []);
  });
});
