// Tests of @edgesync/client's own logic (URLs, errors, waiting, masking)
// with a recording fetch; the behaviour against the real API is in
// client.test.mjs.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadClient } from "./build.mjs";
import { repoRoot } from "./stack.mjs";

const { EdgesyncClient, EdgesyncError, maskSecrets, isSecretKey, hasRole, MASK, REDACTED } = await loadClient();

/** recorder returns a fetch that answers from respond(url, init) and records the calls. */
function recorder(respond) {
  const calls = [];
  const f = async (url, init) => {
    calls.push({ url, init });
    const r = await respond(url, init, calls.length);
    if (r instanceof Response) return r;
    return new Response(JSON.stringify(r.body), { status: r.status ?? 200, headers: { "Content-Type": "application/json" } });
  };
  return { calls, fetch: f };
}

describe("EdgesyncClient URLs", () => {
  const cases = [
    { name: "config with trailing slash", base: "http://h:1", call: (a) => a.getTerminalConfig("t1"), want: "http://h:1/terminals/t1/config/" },
    { name: "status with trailing slash", base: "http://h:1/", call: (a) => a.getTerminalStatus("t1"), want: "http://h:1/terminals/t1/status/" },
    { name: "logs with params", base: "http://h:1", call: (a) => a.getTerminalLogs("t1", { count: 10, level: "warn", q: "a b", since: 0 }), want: "http://h:1/terminals/t1/logs/?count=10&level=warn&q=a+b&since=0" },
    { name: "logs drops empty params", base: "http://h:1", call: (a) => a.getTerminalLogs("t1", { q: "", level: undefined, cursor: null }), want: "http://h:1/terminals/t1/logs/" },
    { name: "stage path kept", base: "https://abc.execute-api.eu-west-1.amazonaws.com/prod/", call: (a) => a.getTerminal("x"), want: "https://abc.execute-api.eu-west-1.amazonaws.com/prod/terminals/x" },
    { name: "query and hash of base dropped", base: "http://h:1/api?x=1#frag", call: (a) => a.listTerminals({ limit: 5 }), want: "http://h:1/api/terminals?limit=5" },
    { name: "numeric id", base: "http://h:1", call: (a) => a.getTerminalLogs(42), want: "http://h:1/terminals/42/logs/" },
    { name: "id escaped", base: "http://h:1", call: (a) => a.getTerminal("a/b c"), want: "http://h:1/terminals/a%2Fb%20c" },
    { name: "history since date", base: "http://h:1", call: (a) => a.getStatusHistory("t", { since: new Date("2026-01-02T03:04:05Z"), limit: 3 }), want: "http://h:1/terminals/t/status/history?since=2026-01-02T03%3A04%3A05.000Z&limit=3" },
    { name: "command", base: "http://h:1", call: (a) => a.getCommand("t", "r1"), want: "http://h:1/terminals/t/commands/r1" },
    { name: "me", base: "http://h:1", call: (a) => a.getMe(), want: "http://h:1/me" },
    {
      name: "terminal filters",
      base: "http://h:1",
      call: (a) => a.listTerminals({ limit: 50, cursor: "c1", group: "line 3", q: "cam", online: false, stale: true, agentVersion: "1.2.0" }),
      want: "http://h:1/terminals?limit=50&cursor=c1&group=line+3&q=cam&online=false&stale=true&agentVersion=1.2.0",
    },
    { name: "credentials", base: "http://h:1", call: (a) => a.listCredentials("t"), want: "http://h:1/terminals/t/credentials" },
    {
      name: "fleet-wide log search",
      base: "http://h:1",
      call: (a) => a.searchLogs({ group: "line 3", level: "error", q: "PLC", since: new Date("2026-01-02T03:04:05Z"), until: "1h", limit: 50, cursor: "AQ" }),
      want: "http://h:1/logs?group=line+3&level=error&q=PLC&since=2026-01-02T03%3A04%3A05.000Z&until=1h&limit=50&cursor=AQ",
    },
    { name: "alerts", base: "http://h:1", call: (a) => a.listAlerts({ group: "g", state: "active", limit: 10 }), want: "http://h:1/alerts?group=g&state=active&limit=10" },
    { name: "alert rules of a group", base: "http://h:1", call: (a) => a.listAlertRules("a/b"), want: "http://h:1/groups/a%2Fb/alert-rules" },
    {
      name: "audit filters",
      base: "http://h:1",
      call: (a) => a.getAuditTrail({ terminal: "t", actor: "ann", action: "config.set", since: new Date("2026-01-02T03:04:05Z"), until: "1h", limit: 20 }),
      want: "http://h:1/audit?terminal=t&actor=ann&action=config.set&since=2026-01-02T03%3A04%3A05.000Z&until=1h&limit=20",
    },
  ];
  for (const tc of cases) {
    it(tc.name, async () => {
      const rec = recorder(() => ({ body: {} }));
      const api = new EdgesyncClient({ baseURL: tc.base, fetch: rec.fetch });
      await tc.call(api);
      assert.equal(rec.calls.length, 1);
      assert.equal(rec.calls[0].url, tc.want);
      assert.equal(rec.calls[0].init.method, "GET");
      assert.equal(rec.calls[0].init.body, undefined);
      assert.equal(rec.calls[0].init.headers["Content-Type"], undefined, "GETs stay CORS-simple");
    });
  }

  it("posts commands as JSON", async () => {
    const rec = recorder(() => ({ status: 202, body: { requestId: "r1", state: "pending" } }));
    const api = new EdgesyncClient({ baseURL: "http://h:1", fetch: rec.fetch });
    await api.sendCommand("t", "get_logs", { count: 5 }, { timeoutSeconds: 20 });
    await api.updateConfig("t", { a: 1 });
    await api.sync("t");
    const [send, update, sync] = rec.calls;
    assert.equal(send.url, "http://h:1/terminals/t/commands");
    assert.equal(send.init.method, "POST");
    assert.equal(send.init.headers["Content-Type"], "application/json");
    assert.deepEqual(JSON.parse(send.init.body), { command: "get_logs", params: { count: 5 }, timeoutSeconds: 20 });
    assert.equal(update.url, "http://h:1/terminals/t/config");
    assert.equal(update.init.method, "PUT");
    assert.deepEqual(JSON.parse(update.init.body), { config: { a: 1 } });
    assert.equal(sync.url, "http://h:1/terminals/t/sync");
    assert.equal(sync.init.method, "POST");
  });

  it("posts admin calls as JSON", async () => {
    const rec = recorder(() => ({ body: {} }));
    const api = new EdgesyncClient({ baseURL: "http://h:1", fetch: rec.fetch });
    await api.createTerminal({ id: "t9", name: "Press 9", groups: ["line-3"] });
    await api.rotateCredentials("t9", { overlapSeconds: 0 });
    await api.revokeCredentials("t9", "c1");
    await api.revokeCredentials("t9");
    const [create, rotate, revokeOne, revokeAll] = rec.calls;
    assert.equal(create.url, "http://h:1/terminals");
    assert.equal(create.init.method, "POST");
    assert.deepEqual(JSON.parse(create.init.body), { id: "t9", name: "Press 9", groups: ["line-3"] });
    assert.equal(rotate.url, "http://h:1/terminals/t9/credentials/rotate");
    assert.deepEqual(JSON.parse(rotate.init.body), { overlapSeconds: 0 });
    assert.equal(revokeOne.url, "http://h:1/terminals/t9/credentials/revoke");
    assert.deepEqual(JSON.parse(revokeOne.init.body), { credentialId: "c1" });
    assert.deepEqual(JSON.parse(revokeAll.init.body), {});
  });

  it("writes alert rules and acknowledges alerts", async () => {
    const rec = recorder((url, init) => (init.method === "DELETE" ? new Response(null, { status: 204 }) : { status: init.method === "POST" ? 201 : 200, body: { id: "r1" } }));
    const api = new EdgesyncClient({ baseURL: "http://h:1", fetch: rec.fetch });
    const rule = await api.createAlertRule("line-3", { kind: "status", field: "disk_percent", op: ">", threshold: 90 });
    assert.equal(rule.id, "r1");
    await api.acknowledgeAlert({ group: "line-3", ruleId: "r1", terminalId: "press:7" });
    assert.equal(await api.deleteAlertRule("line-3", "r1"), undefined);
    const [create, ack, del] = rec.calls;
    assert.equal(create.url, "http://h:1/groups/line-3/alert-rules");
    assert.equal(create.init.method, "POST");
    assert.deepEqual(JSON.parse(create.init.body), { kind: "status", field: "disk_percent", op: ">", threshold: 90 });
    assert.equal(ack.url, "http://h:1/groups/line-3/alerts/r1/press%3A7/acknowledge");
    assert.equal(ack.init.method, "POST");
    assert.equal(del.url, "http://h:1/groups/line-3/alert-rules/r1");
    assert.equal(del.init.method, "DELETE");
  });

  it("rejects a missing or relative baseURL", () => {
    for (const base of [undefined, "", "   ", "/api", "ftp://h/"]) {
      assert.throws(() => new EdgesyncClient({ baseURL: base }), TypeError, `baseURL ${base}`);
    }
  });

  it("rejects a config that is not an object", async () => {
    const api = new EdgesyncClient({ baseURL: "http://h:1", fetch: recorder(() => ({ body: {} })).fetch });
    await assert.rejects(api.updateConfig("t", [1, 2]), TypeError);
  });
});

describe("EdgesyncClient errors", () => {
  const cases = [
    { name: "API error body", res: () => ({ status: 409, body: { code: "offline", message: "terminal is offline" } }), status: 409, code: "offline", msg: /offline/ },
    { name: "API Gateway authorizer", res: () => ({ status: 401, body: { message: "Unauthorized" } }), status: 401, code: "unauthenticated", msg: /^GET \/terminals\/t: Unauthorized$/ },
    { name: "API Gateway forbidden", res: () => ({ status: 403, body: { message: "Forbidden" } }), status: 403, code: "forbidden", msg: /Forbidden/ },
    { name: "API Gateway throttling", res: () => ({ status: 429, body: { message: "Too Many Requests" } }), status: 429, code: "throttled", msg: /Too Many Requests/ },
    { name: "API Gateway internal", res: () => ({ status: 500, body: { message: "Internal Server Error" } }), status: 500, code: "internal", msg: /Internal Server Error/ },
    { name: "HTML error page", res: () => new Response("<html>Bad Gateway</html>", { status: 502 }), status: 502, code: "unexpected_response", msg: /HTTP 502/ },
    { name: "empty error", res: () => new Response("", { status: 503, statusText: "Service Unavailable" }), status: 503, code: "unexpected_response", msg: /503/ },
    { name: "200 not JSON", res: () => new Response("<html>hello</html>", { status: 200 }), status: 200, code: "unexpected_response", msg: /not the API's JSON/ },
    { name: "fetch throws", res: () => { throw new TypeError("fetch failed"); }, status: 0, code: "network", msg: /cannot reach the API.*fetch failed/ },
  ];
  for (const tc of cases) {
    it(tc.name, async () => {
      const api = new EdgesyncClient({ baseURL: "http://h:1", fetch: recorder(tc.res).fetch });
      await assert.rejects(api.getTerminal("t"), (err) => {
        assert.ok(err instanceof EdgesyncError, `got ${err}`);
        assert.ok(err instanceof Error);
        assert.equal(err.name, "EdgesyncError");
        assert.equal(err.status, tc.status);
        assert.equal(err.code, tc.code);
        assert.match(err.message, tc.msg);
        assert.equal(err.method, "GET");
        assert.equal(err.url, "http://h:1/terminals/t");
        return true;
      });
    });
  }

  it("passes an abort through as it is", async () => {
    const ctl = new AbortController();
    const api = new EdgesyncClient({
      baseURL: "http://h:1",
      fetch: (url, init) =>
        new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")))),
    });
    const p = api.getTerminal("t", { signal: ctl.signal });
    ctl.abort();
    await assert.rejects(p, (err) => err.name === "AbortError");
  });
});

describe("EdgesyncClient.waitForCommand", () => {
  it("polls until the command is no longer pending", async () => {
    const states = ["pending", "pending", "timed_out"];
    const rec = recorder((url, init, n) => ({ body: { requestId: "r", state: states[n - 1] } }));
    const api = new EdgesyncClient({ baseURL: "http://h:1", fetch: rec.fetch });
    const c = await api.waitForCommand("t", "r", { intervalMs: 10 });
    assert.equal(c.state, "timed_out");
    assert.equal(rec.calls.length, 3);
  });

  it("gives up with code wait_timeout", async () => {
    const rec = recorder(() => ({ body: { requestId: "r", state: "pending" } }));
    const api = new EdgesyncClient({ baseURL: "http://h:1", fetch: rec.fetch });
    await assert.rejects(api.waitForCommand("t", "r", { intervalMs: 10, timeoutMs: 30 }), (err) => {
      assert.equal(err.code, "wait_timeout");
      assert.equal(err.status, 0);
      return true;
    });
  });

  it("stops when aborted", async () => {
    const rec = recorder(() => ({ body: { requestId: "r", state: "pending" } }));
    const api = new EdgesyncClient({ baseURL: "http://h:1", fetch: rec.fetch });
    const ctl = new AbortController();
    const p = api.waitForCommand("t", "r", { intervalMs: 10_000, signal: ctl.signal });
    setTimeout(() => ctl.abort(new Error("stop")), 20);
    await assert.rejects(p, /stop/);
  });
});

// The shared table of the one secret rule: protocol.IsSecretKey (Go) is
// tested against the same file.
const secretTable = JSON.parse(readFileSync(join(repoRoot, "protocol", "testdata", "secret-keys.json"), "utf8"));

describe("isSecretKey", () => {
  const cases = Object.entries(secretTable.cases);
  it("has the shared table", () => {
    assert.ok(cases.length >= 40, `${cases.length} cases in protocol/testdata/secret-keys.json`);
  });
  for (const [key, want] of cases) {
    it(`${JSON.stringify(key)} → ${want}`, () => {
      assert.equal(isSecretKey(key), want, `isSecretKey(${JSON.stringify(key)})`);
    });
  }
  // Where JavaScript and Go could part: code points outside the BMP, case
  // mapping beyond ASCII, digits of other scripts (Go's unicode package
  // decides; these follow it).
  const unicode = [
    { key: "ΑPIKey", want: true, why: "Greek capital alpha starts an upper-case run like A" },
    { key: "passwörter", want: true, why: "a word containing passw" },
    { key: "\u0130token", want: true, why: "İ lower-cases to i as in Go, the word still contains token" },
    { key: "api٣key", want: true, why: "an Arabic-Indic digit splits words as 3 does" },
    { key: "𝐀𝐏𝐈key", want: true, why: "mathematical letters outside the BMP are letters, one code point each" },
    { key: "keyΣ", want: true, why: "Σ after y starts a word, so key is a word of its own" },
    { key: "tokenFILE", want: false, why: "F after n starts the word file, a location word" },
    { key: "TOKENFile", want: false, why: "the F of File starts a word inside the upper-case run" },
  ];
  for (const tc of unicode) {
    it(`${tc.key}: ${tc.why}`, () => assert.equal(isSecretKey(tc.key), tc.want));
  }
});

describe("hasRole", () => {
  const cases = [
    ["admin", "operator", true],
    ["admin", "admin", true],
    ["operator", "viewer", true],
    ["operator", "admin", false],
    ["viewer", "operator", false],
    ["", "viewer", false],
    ["Admin", "viewer", false],
    [undefined, "viewer", false],
  ];
  for (const [role, want, ok] of cases) {
    it(`${role} has ${want}: ${ok}`, () => assert.equal(hasRole(role, want), ok));
  }
});

describe("maskSecrets", () => {
  const cases = [
    { name: "flat", in: { token: "abc", password: "p", name: "cam" }, want: { token: MASK, password: MASK, name: "cam" } },
    { name: "words, not substrings", in: { API_KEY: "k", clientSecret: "s", Credentials: ["a"], keep: 1, keyboard: "de", monkey: "x" }, want: { API_KEY: MASK, clientSecret: MASK, Credentials: MASK, keep: 1, keyboard: "de", monkey: MASK } },
    { name: "where a secret is kept is no secret", in: { token_file: "/etc/edgesync/token", tls: { key_path: "/k.pem", private_key: "x" } }, want: { token_file: "/etc/edgesync/token", tls: { key_path: "/k.pem", private_key: MASK } } },
    { name: "nested and arrays", in: { mqtt: { passwd: "x", pass_phrase: "y" }, list: [{ token: "t" }] }, want: { mqtt: { passwd: MASK, pass_phrase: "y" }, list: [{ token: MASK }] } },
    { name: "whole values", in: { token: { value: "v" }, apiKeys: ["a", "b"] }, want: { token: MASK, apiKeys: MASK } },
    { name: "empty values stay", in: { token: "", secret: null }, want: { token: "", secret: null } },
    { name: "non objects", in: "token", want: "token" },
    { name: "null", in: null, want: null },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const input = structuredClone(tc.in);
      assert.deepEqual(maskSecrets(input), tc.want);
      assert.deepEqual(input, tc.in, "input unchanged");
    });
  }

  it("masks with REDACTED for a config sent back", () => {
    assert.equal(REDACTED, "[redacted]");
    assert.deepEqual(maskSecrets({ token: "abc", status_interval: 30 }, REDACTED), { token: "[redacted]", status_interval: 30 });
  });

  it("agrees with isSecretKey on every key of the shared table", () => {
    const doc = Object.fromEntries(Object.keys(secretTable.cases).filter((k) => k !== "").map((k) => [k, "v"]));
    const masked = maskSecrets(doc);
    for (const [k, secret] of Object.entries(secretTable.cases)) {
      if (k === "") continue;
      assert.equal(masked[k], secret ? MASK : "v", `key ${k}`);
    }
  });
});
