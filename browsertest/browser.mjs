// Launches Debian's Chromium headless through playwright-core (from
// tools/node_modules: npm ci --prefix tools). No browser is ever
// downloaded: a missing Chromium fails with how to install it.

import { createRequire } from "node:module";
import { existsSync, mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../client/test/stack.mjs";

/** artifactsDir holds screenshots (git-ignored /artifacts/). */
export const artifactsDir = join(repoRoot, "artifacts", "browsertest");

/** chromiumPath is CHROMIUM_PATH or Debian's /usr/bin/chromium. */
export const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function playwright() {
  const require = createRequire(join(repoRoot, "tools", "package.json"));
  try {
    return require("playwright-core");
  } catch (err) {
    throw new Error(`playwright-core is not installed in tools/node_modules: run npm ci --prefix tools (${err.message})`);
  }
}

/**
 * launch starts Chromium with a fresh profile and returns {context, close}.
 * close() ends the browser and removes the profile.
 */
export async function launch() {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium not found at ${chromiumPath}: install Debian's Chromium (apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium binary`,
    );
  }
  const { chromium } = playwright();
  const profile = mkdtempSync(join(tmpdir(), "edgesync-chromium-"));
  // launchPersistentContext takes the fresh profile as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
  context.setDefaultTimeout(20_000);
  mkdirSync(artifactsDir, { recursive: true });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
