// Launches Debian's Chromium headless through playwright-core (from
// tools/node_modules: npm ci --prefix tools). No browser is ever
// downloaded: a missing Chromium fails with how to install it.

import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { existsSync, mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, normalize, extname } from "node:path";
import { repoRoot, eventually } from "../client/test/stack.mjs";

/** artifactsDir holds screenshots (git-ignored /artifacts/). */
export const artifactsDir = join(repoRoot, "artifacts", "browsertest");

/**
 * docsScreenshots is true when EDGESYNC_SCREENSHOTS=docs: the tests then
 * also write the README's screenshots to docs/screenshots/ (checked in).
 * Normal runs leave them alone.
 */
export const docsScreenshots = process.env.EDGESYNC_SCREENSHOTS === "docs";

/** docsDir is where docsScreenshots go. */
export const docsDir = join(repoRoot, "docs", "screenshots");

/**
 * screenshot writes page (or the element of locator) to
 * artifacts/browsertest/NAME.png and, with EDGESYNC_SCREENSHOTS=docs, to
 * docs/screenshots/NAME.png too when docs is true.
 */
export async function screenshot(page, name, { docs = false, fullPage = true, locator } = {}) {
  const shoot = (path) => (locator ? locator.screenshot({ path, animations: "disabled" }) : page.screenshot({ path, fullPage, animations: "disabled" }));
  await shoot(join(artifactsDir, `${name}.png`));
  if (docs && docsScreenshots) {
    mkdirSync(docsDir, { recursive: true });
    await shoot(join(docsDir, `${name}.png`));
  }
}

/** useToken enters a bearer token in the settings and applies it. */
export async function useToken(page, token) {
  await page.fill("#api-token", token);
  await page.click("#settings button[type=submit]");
}

/** waitForText waits until locator's text matches re and returns the text. */
export async function waitForText(locator, re, timeoutMs = 20_000) {
  return eventually(
    `text matching ${re}`,
    async () => {
      const t = await locator.innerText();
      if (!re.test(t)) throw new Error(`the text is ${JSON.stringify(t)}`); // said when it gives up
      return t;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/**
 * listen starts an HTTP server on an ephemeral port of 127.0.0.1 with
 * handler and returns {url, origin, close}.
 */
export async function listen(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    origin: url,
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}

/**
 * recordingServer answers every request (preflights included) as an API
 * that lets any origin in would, and records each request's method, path
 * and headers: the "evil" host of the token-theft tests.
 */
export async function recordingServer() {
  const requests = [];
  const srv = await listen((req, res) => {
    requests.push({ method: req.method, url: req.url, headers: { ...req.headers } });
    res.writeHead(req.method === "OPTIONS" ? 204 : 200, {
      "Access-Control-Allow-Origin": req.headers.origin ?? "*",
      "Access-Control-Allow-Headers": "Authorization, Content-Type",
      "Access-Control-Allow-Methods": "GET, POST, PUT, OPTIONS",
      "Content-Type": "application/json",
    });
    res.end(req.method === "OPTIONS" ? "" : JSON.stringify({ subject: "evil", role: "admin", groups: [], terminals: [], nextCursor: "" }));
  });
  return { ...srv, requests };
}

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };

/**
 * serveDashboard serves the dashboard's files (dashboard/web) like the Go
 * handler does (/ and /ui/…) from another origin, as a copy of the files on
 * a static host would be: with the API origins it may call filled into the
 * page's meta tag and its Content-Security-Policy.
 */
export async function serveDashboard({ apiOrigins = [], agentServerURL = "" } = {}) {
  const dir = join(repoRoot, "dashboard", "web");
  const csp = `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ${apiOrigins.join(" ")}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'`;
  return listen(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const rel = path === "/" ? "index.html" : path.startsWith("/ui/") ? normalize(path.slice(4)) : null;
    if (!rel || rel.startsWith("..")) {
      res.writeHead(404).end();
      return;
    }
    try {
      let body = await readFile(join(dir, rel));
      const headers = { "Content-Type": TYPES[extname(rel)] ?? "application/octet-stream" };
      if (rel === "index.html") {
        body = String(body)
          .replace('<meta name="edgesync-api-origins" content="">', `<meta name="edgesync-api-origins" content="${apiOrigins.join(",")}">`)
          .replace('<meta name="edgesync-agent-server-url" content="">', `<meta name="edgesync-agent-server-url" content="${agentServerURL}">`);
        headers["Content-Security-Policy"] = csp;
      }
      res.writeHead(200, headers).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
}

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

let agentBin;

/**
 * buildAgent builds cmd/edgesync-agent once per process into a temporary
 * directory and returns its path (EDGESYNC_AGENT_BIN may name one built).
 */
export function buildAgent() {
  if (process.env.EDGESYNC_AGENT_BIN) return process.env.EDGESYNC_AGENT_BIN;
  if (agentBin) return agentBin;
  const dir = mkdtempSync(join(tmpdir(), "edgesync-agent-bin-"));
  const bin = join(dir, "edgesync-agent");
  const res = spawnSync("go", ["build", "-o", bin, "./cmd/edgesync-agent"], { cwd: repoRoot, encoding: "utf8" });
  if (res.error || res.status !== 0) {
    throw new Error(`go build ./cmd/edgesync-agent: ${res.error?.message ?? ""}\n${res.stderr}`);
  }
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  agentBin = bin;
  return bin;
}
