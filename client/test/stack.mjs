// Starts the real local stack (cmd/edgesync-local) with demo terminals for
// the client's tests and the browser tests, and stops it again.
//
// The runner is built with `go build` into a temporary directory unless
// EDGESYNC_LOCAL_BIN names a binary already built. Nothing is skipped: a
// missing Go toolchain or runner fails with a message saying what to do.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";

/** repoRoot is the root of the edgesync module. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

const running = new Set();
process.on("exit", () => {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

let built;

/** buildRunner returns the path of the edgesync-local binary, building it once per process. */
export function buildRunner() {
  if (process.env.EDGESYNC_LOCAL_BIN) {
    const bin = resolve(process.env.EDGESYNC_LOCAL_BIN);
    if (!existsSync(bin)) {
      throw new Error(`EDGESYNC_LOCAL_BIN=${bin}: no such file`);
    }
    return bin;
  }
  if (built) return built;
  if (!existsSync(join(repoRoot, "cmd", "edgesync-local", "main.go"))) {
    throw new Error(`cmd/edgesync-local is missing under ${repoRoot}; the tests need the local runner (or set EDGESYNC_LOCAL_BIN to a built one)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "edgesync-local-bin-"));
  const bin = join(dir, "edgesync-local");
  const res = spawnSync("go", ["build", "-o", bin, "./cmd/edgesync-local"], { cwd: repoRoot, encoding: "utf8" });
  if (res.error) {
    throw new Error(`go build ./cmd/edgesync-local: ${res.error.message} (install Go 1.26+ and put it on PATH)`);
  }
  if (res.status !== 0) {
    throw new Error(`go build ./cmd/edgesync-local failed:\n${res.stderr}`);
  }
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  built = bin;
  return bin;
}

/**
 * startStack runs the local stack with `demo` demo terminals and resolves
 * once it wrote its ready file. The result holds httpURL, wsURL,
 * connectionsURL, terminals ([{id, token}]), the child's output so far
 * (logs()) and stop(), which sends SIGTERM and waits for the exit.
 */
export async function startStack({ demo = 2, readyTimeoutMs = 60_000, args = [] } = {}) {
  const bin = buildRunner();
  const dir = mkdtempSync(join(tmpdir(), "edgesync-stack-"));
  const readyFile = join(dir, "ready.json");
  const child = spawn(
    bin,
    ["--demo", String(demo), "--http-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0", "--data", join(dir, "data"), "--ready-file", readyFile, ...args],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  running.add(child);
  let output = "";
  const keep = (chunk) => {
    output += chunk;
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.setEncoding("utf8").on("data", keep);
  child.stderr.setEncoding("utf8").on("data", keep);
  let exited = null;
  const exit = new Promise((res) => {
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      res(exited);
    });
  });

  const stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`edgesync-local exited (${JSON.stringify(exited)}) before it was ready:\n${output.slice(-4000)}`);
    }
    if (existsSync(readyFile)) {
      try {
        const ready = JSON.parse(readFileSync(readyFile, "utf8"));
        if (ready.httpURL) {
          return { ...ready, dir, stop, logs: () => output };
        }
      } catch {
        // partly written; read again
      }
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`edgesync-local wrote no ready file within ${readyTimeoutMs} ms:\n${output.slice(-4000)}`);
    }
    await delay(50);
  }
}

/**
 * eventually calls fn until it returns a truthy value and resolves with
 * it; after timeoutMs it rejects with the last error or value seen. It
 * waits for something the system will do, it measures nothing.
 */
export async function eventually(what, fn, { timeoutMs = 30_000, intervalMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? last.stack : JSON.stringify(last);
      throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms; last: ${why}`);
    }
    await delay(intervalMs);
  }
}
