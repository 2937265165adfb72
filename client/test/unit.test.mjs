// Tests of @edgesync/client's own logic (URLs, errors, waiting, masking)
// with a recording fetch; the behaviour against the real API is in
// client.test.mjs.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadClient } from "./build.mjs";

const { EdgesyncClient, EdgesyncError, maskSecrets, MASK } = await loadClient();

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

describe("maskSecrets", () => {
  const cases = [
    { name: "flat", in: { token: "abc", password: "p", name: "cam" }, want: { token: MASK, password: MASK, name: "cam" } },
    { name: "case and substrings", in: { API_KEY: "k", clientSecret: "s", Credentials: ["a"], keep: 1 }, want: { API_KEY: MASK, clientSecret: MASK, Credentials: MASK, keep: 1 } },
    { name: "nested and arrays", in: { mqtt: { passwd: "x", pass_phrase: "y" }, list: [{ token: "t" }] }, want: { mqtt: { passwd: MASK, pass_phrase: MASK }, list: [{ token: MASK }] } },
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
});
