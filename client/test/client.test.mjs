// Tests of @edgesync/client against the real local stack (cmd/edgesync-local)
// with demo terminals: real HTTP, real agents over real WebSockets.
//
//   node --test client/test/

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { loadClient } from "./build.mjs";
import { startStack, eventually } from "./stack.mjs";

const { EdgesyncClient, EdgesyncError } = await loadClient();

describe("EdgesyncClient against the local stack", () => {
  let stack;
  let api;
  const id = "demo-1";

  before(async () => {
    stack = await startStack({ demo: 2 });
    assert.ok(stack.users?.operator && stack.users?.viewer, `the ready file lists user tokens by role: ${JSON.stringify(Object.keys(stack.users ?? {}))}`);
    api = new EdgesyncClient({ baseURL: stack.httpURL, getAuthHeader: () => `Bearer ${stack.users.operator}` });
    // The demo agents connect, say hello and answer the pull.
    await eventually("demo-1 online with status and config", async () => {
      const t = await api.getTerminal(id);
      return t.online && t.status.syncedAt && t.config.syncedAt && t.lastSeq > 0;
    });
  });

  after(async () => {
    await stack?.stop();
  });

  it("lists the demo terminals", async () => {
    const page = await api.listTerminals();
    const ids = page.terminals.map((t) => t.id).sort();
    assert.deepEqual(ids, ["demo-1", "demo-2"]);
    assert.equal(page.nextCursor, "");
    for (const t of page.terminals) {
      assert.equal(typeof t.online, "boolean", `terminal ${t.id} online`);
      assert.equal(typeof t.config.fresh, "boolean", `terminal ${t.id} config.fresh`);
      assert.equal(typeof t.lastSeq, "number", `terminal ${t.id} lastSeq`);
    }
  });

  it("pages through terminals with limit and cursor", async () => {
    const first = await api.listTerminals({ limit: 1 });
    assert.equal(first.terminals.length, 1);
    assert.notEqual(first.nextCursor, "", "first page of 1 has a next cursor");
    const second = await api.listTerminals({ limit: 1, cursor: first.nextCursor });
    assert.equal(second.terminals.length, 1);
    assert.notEqual(second.terminals[0].id, first.terminals[0].id);
    const all = await api.listAllTerminals({ pageSize: 1 });
    assert.deepEqual(all.map((t) => t.id).sort(), ["demo-1", "demo-2"]);
  });

  it("reads a terminal", async () => {
    const t = await api.getTerminal(id);
    assert.equal(t.id, id);
    assert.equal(t.online, true);
    assert.ok(Date.parse(t.lastSeen) > 0, `lastSeen ${t.lastSeen} is a time`);
  });

  it("reads config and status with the frontend's names", async () => {
    const cfg = await api.getTerminalConfig(id);
    assert.equal(cfg.terminalId, id);
    assert.equal(typeof cfg.data, "object");
    assert.ok(cfg.data !== null, "config data present");
    assert.ok(cfg.version, "config has a version");
    assert.ok(Date.parse(cfg.syncedAt) > 0);
    const st = await api.getTerminalStatus(id);
    assert.equal(st.terminalId, id);
    for (const k of ["cpu_percent", "memory_percent", "disk_percent"]) {
      assert.equal(typeof st.data[k], "number", `status.${k}`);
    }
  });

  it("accepts a numeric id as the old frontend passed", async () => {
    await assert.rejects(api.getTerminalConfig(7), (err) => {
      assert.ok(err instanceof EdgesyncError);
      assert.equal(err.status, 404);
      assert.match(err.url, /\/terminals\/7\/config\/$/);
      return true;
    });
  });

  it("reads the newest logs, then tails forward without repeats", async () => {
    const newest = await api.getTerminalLogs(id, { count: 5 });
    assert.ok(newest.entries.length > 0, "some logs");
    assert.ok(newest.entries.length <= 5);
    assertAscending(newest.entries);
    const start = newest.entries.at(-1).seq;
    const seen = [];
    let cursor;
    await eventually("three more log lines", async () => {
      const page = cursor ? await api.getTerminalLogs(id, { cursor }) : await api.getTerminalLogs(id, { since: start });
      seen.push(...page.entries);
      cursor = page.nextCursor;
      return seen.length >= 3;
    });
    assertAscending(seen);
    assert.ok(seen[0].seq > start, `first tailed seq ${seen[0].seq} > ${start}`);
  });

  it("filters logs by level and search text", async () => {
    await eventually("an error line", async () => (await api.getTerminalLogs(id, { level: "error" })).entries.length > 0);
    const errors = await api.getTerminalLogs(id, { level: "error", count: 50 });
    for (const e of errors.entries) assert.equal(e.level, "error", `seq ${e.seq}`);
    const any = (await api.getTerminalLogs(id, { count: 1 })).entries[0];
    const word = any.msg.split(/\s+/).find((w) => w.length >= 3) ?? any.msg;
    const found = await api.getTerminalLogs(id, { q: word.toUpperCase(), count: 50 });
    assert.ok(found.entries.length > 0, `search for ${word}`);
    for (const e of found.entries) {
      assert.ok(`${e.msg} ${e.source ?? ""}`.toLowerCase().includes(word.toLowerCase()), `seq ${e.seq}: ${e.msg}`);
    }
    const none = await api.getTerminalLogs(id, { q: "no-line-says-this-8c1f" });
    assert.deepEqual(none.entries, []);
  });

  it("reads the status history", async () => {
    // A get_status answer adds a sample besides the periodic ones.
    await api.runCommand(id, "get_status", undefined, { intervalMs: 100 });
    const h = await eventually("two status samples", async () => {
      const h = await api.getStatusHistory(id, { since: "30m" });
      return h.samples.length >= 2 && h;
    });
    assert.equal(h.terminalId, id);
    for (const s of h.samples) {
      assert.ok(Date.parse(s.at) > 0);
      assert.equal(typeof s.data.cpu_percent, "number");
    }
    const limited = await api.getStatusHistory(id, { since: new Date(Date.now() - 3600_000), limit: 1 });
    assert.equal(limited.samples.length, 1);
  });

  it("syncs and the pull commands succeed", async () => {
    const before = await api.getTerminalStatus(id);
    const res = await api.sync(id);
    assert.equal(res.terminalId, id);
    const names = res.commands.map((c) => c.command).sort();
    assert.deepEqual(names, ["get_config", "get_logs", "get_status"]);
    for (const c of res.commands) {
      assert.equal(c.state, "pending");
      const done = await api.waitForCommand(id, c.requestId, { intervalMs: 100, timeoutMs: 20_000 });
      assert.equal(done.state, "succeeded", `${c.command}: ${done.error ?? ""}`);
    }
    const after = await api.getTerminalStatus(id);
    assert.equal(after.fresh, true);
    assert.ok(Date.parse(after.syncedAt) >= Date.parse(before.syncedAt), `${after.syncedAt} >= ${before.syncedAt}`);
  });

  it("sends a command and reads its outcome", async () => {
    const c = await api.sendCommand(id, "ping", undefined, { timeoutSeconds: 15 });
    assert.equal(c.command, "ping");
    assert.equal(c.state, "pending");
    assert.ok(c.requestId);
    const done = await api.waitForCommand(id, c.requestId, { intervalMs: 100 });
    assert.equal(done.state, "succeeded");
    assert.ok(done.completedAt);
    const again = await api.getCommand(id, c.requestId);
    assert.equal(again.state, "succeeded");
    const ran = await api.runCommand(id, "get_status", undefined, { intervalMs: 100 });
    assert.equal(ran.state, "succeeded");
    assert.equal(typeof ran.result.cpu_percent, "number");
  });

  it("updates the config", async () => {
    const cfg = await api.getTerminalConfig(id);
    assert.equal(cfg.data.token, "[redacted]", "an operator reads secrets masked");
    const level = cfg.data.log_level === "debug" ? "info" : "debug";
    const desired = await api.updateConfig(id, { ...cfg.data, log_level: level });
    assert.equal(desired.state, "pending");
    assert.equal(desired.pending, true);
    assert.ok(desired.version && desired.requestId, `desired ${JSON.stringify(desired)}`);
    const done = await api.waitForCommand(id, desired.requestId, { intervalMs: 100 });
    assert.equal(done.command, "set_config");
    assert.equal(done.state, "succeeded", done.error);
    // The API pulls the config again after a set_config succeeded.
    const now = await eventually("the new config to be read back", async () => {
      const v = await api.getTerminalConfig(id);
      return v.data.log_level === level && v.desired && !v.desired.pending && v;
    });
    assert.equal(now.desired.state, "succeeded");
    assert.equal(now.desired.version, desired.version);
    assert.notEqual(now.version, cfg.version);
    // The secret sent back masked kept its value: the terminal still connects
    // with it and answers.
    const ping = await api.runCommand(id, "ping", undefined, { intervalMs: 100 });
    assert.equal(ping.state, "succeeded");
  });

  it("shows a config the terminal refused as failed", async () => {
    // A set_config carries the whole config: an operator keeps the
    // admin-only keys (server_url, token, ...) as reported.
    const cfg = await api.getTerminalConfig(id);
    const desired = await api.updateConfig(id, { ...cfg.data, heartbeat_interval: "not a number" });
    const done = await api.waitForCommand(id, desired.requestId, { intervalMs: 100 });
    assert.equal(done.state, "failed");
    assert.ok(done.error, "a failed command says why");
    const v = await api.getTerminalConfig(id);
    assert.equal(v.desired.state, "failed");
    assert.equal(v.desired.pending, true);
  });

  const errorCases = [
    { name: "unknown terminal", call: (a) => a.getTerminal("no-such-terminal"), status: 404, code: "not_found" },
    { name: "bad level", call: (a) => a.getTerminalLogs(id, { level: "loud" }), status: 400, code: "invalid" },
    { name: "bad count", call: (a) => a.getTerminalLogs(id, { count: 0 }), status: 400, code: "invalid" },
    { name: "unknown command", call: (a) => a.sendCommand(id, "reboot"), status: 400, code: "invalid" },
    { name: "unknown command id", call: (a) => a.getCommand(id, "no-such-request"), status: 404, code: "not_found" },
    { name: "bad history since", call: (a) => a.getStatusHistory(id, { since: "yesterday" }), status: 400, code: "invalid" },
  ];
  for (const tc of errorCases) {
    it(`rejects with EdgesyncError: ${tc.name}`, async () => {
      await assert.rejects(tc.call(api), (err) => {
        assert.ok(err instanceof EdgesyncError, `got ${err}`);
        assert.equal(err.status, tc.status);
        assert.equal(err.code, tc.code);
        assert.ok(err.message.length > 0);
        return true;
      });
    });
  }

  it("sends the auth header and extra headers on every request", async () => {
    const seen = [];
    let calls = 0;
    const spy = new EdgesyncClient({
      baseURL: stack.httpURL + "/",
      headers: { "X-Trace": "t-1" },
      getAuthHeader: async () => {
        calls++;
        return `Bearer ${stack.users.operator}`;
      },
      fetch: (url, init) => {
        seen.push({ url, headers: init.headers });
        return fetch(url, init);
      },
    });
    await spy.getTerminalStatus(id);
    await spy.sendCommand(id, "ping");
    assert.equal(seen.length, 2);
    assert.equal(calls, 2, "getAuthHeader is asked per request");
    for (const r of seen) {
      assert.equal(r.headers.Authorization, `Bearer ${stack.users.operator}`);
      assert.equal(r.headers["X-Trace"], "t-1");
      assert.ok(r.url.startsWith(stack.httpURL + "/terminals/"), r.url);
    }
  });

  it("is refused without a token", async () => {
    const anonymous = new EdgesyncClient({ baseURL: stack.httpURL });
    await assert.rejects(anonymous.listTerminals(), (err) => {
      assert.ok(err instanceof EdgesyncError, `got ${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.code, "unauthenticated");
      return true;
    });
  });

  it("lets a viewer read but not command", async () => {
    const viewer = new EdgesyncClient({ baseURL: stack.httpURL, getAuthHeader: () => `Bearer ${stack.users.viewer}` });
    const t = await viewer.getTerminal(id);
    assert.equal(t.id, id);
    await assert.rejects(viewer.sendCommand(id, "ping"), (err) => {
      assert.ok(err instanceof EdgesyncError, `got ${err}`);
      assert.equal(err.status, 403);
      assert.equal(err.code, "forbidden");
      return true;
    });
  });

  it("fails with code network when the API cannot be reached", async () => {
    const dead = new EdgesyncClient({ baseURL: "http://127.0.0.1:1" });
    await assert.rejects(dead.listTerminals(), (err) => {
      assert.ok(err instanceof EdgesyncError);
      assert.equal(err.status, 0);
      assert.equal(err.code, "network");
      return true;
    });
  });
});

function assertAscending(entries) {
  for (let i = 1; i < entries.length; i++) {
    assert.ok(entries[i].seq > entries[i - 1].seq, `seq ${entries[i].seq} after ${entries[i - 1].seq}`);
  }
}
