// Builds @edgesync/client from client/src for the tests that load it:
// client/dist is not committed (npm's prepare script builds it to package
// the client), so each test process compiles its own copy, with the pinned
// tsc from tools/ (make tools), into a temporary directory.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "./stack.mjs";

let loaded;

/** loadClient compiles client/src once per process and imports the result. */
export function loadClient() {
  loaded ??= build();
  return loaded;
}

async function build() {
  const tsc = join(repoRoot, "tools", "node_modules", ".bin", "tsc");
  if (!existsSync(tsc)) {
    throw new Error(`${tsc} is missing: the tests compile the client from client/src with it; install the Node tools with: make tools`);
  }
  const out = mkdtempSync(join(tmpdir(), "edgesync-client-"));
  process.on("exit", () => rmSync(out, { recursive: true, force: true }));
  const res = spawnSync(tsc, ["-p", join(repoRoot, "client", "tsconfig.json"), "--outDir", out], { encoding: "utf8" });
  if (res.error || res.status !== 0) {
    throw new Error(`tsc -p client/tsconfig.json: ${res.error?.message ?? ""}\n${res.stdout}${res.stderr}`);
  }
  return import(pathToFileURL(join(out, "index.js")).href);
}
