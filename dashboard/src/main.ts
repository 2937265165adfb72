// The dashboard's entry point: where the API is, who the user is, and which
// page to show.
//
// The API's base URL comes from, in order: the ?api= query parameter (then
// remembered), the URL saved in the settings field (localStorage), or the
// page's own origin and directory, which is where the query function and
// the local stack serve both the dashboard and the API.
//
// The page sends the user's token to that API, so it accepts only an API at
// its own origin or at an origin the server lists in the meta tag
// edgesync-api-origins (the query function's DASHBOARD_API_ORIGINS); its
// Content-Security-Policy names the same origins. Any other ?api= or API
// field value is refused, never called and never remembered: a link that
// points the dashboard at another host cannot collect the token.

import { App, type View } from "./app.js";
import { h, replace } from "./dom.js";
import { fleetView } from "./fleet.js";
import { terminalView } from "./terminal.js";
import { auditView, registerView } from "./admin.js";
import { rolloutsView, rolloutView } from "./rollouts.js";
import { searchView } from "./search.js";
import { alertsView } from "./alerts.js";

const API_KEY = "edgesync.apiURL";
const TOKEN_KEY = "edgesync.token";

function stored(storage: () => Storage, key: string): string {
  try {
    return storage().getItem(key) ?? "";
  } catch {
    return ""; // storage disabled
  }
}

function store(storage: () => Storage, key: string, value: string): void {
  try {
    if (value) storage().setItem(key, value);
    else storage().removeItem(key);
  } catch {
    // storage disabled: the setting lasts for this page only
  }
}

function meta(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content.trim() ?? "";
}

/** sameOrigin is the API URL when the dashboard is served by the API itself. */
function sameOrigin(): string {
  if (location.protocol !== "http:" && location.protocol !== "https:") return "";
  return new URL(".", location.href).href.replace(/\/+$/, "");
}

/** allowedOrigins are the origins the page may send the token to: its own and the configured ones. */
function allowedOrigins(): string[] {
  const out = [location.origin];
  for (const o of meta("edgesync-api-origins").split(",")) {
    try {
      if (o.trim()) out.push(new URL(o.trim()).origin);
    } catch {
      // the server checks the list; a hand-edited copy may hold a typo
    }
  }
  return out;
}

/**
 * refusal explains why url may not be the API, or is "" when it may: its
 * origin must be the page's own or a configured one. A URL that is no URL
 * passes, for the client to explain.
 */
function refusal(url: string): string {
  let origin: string;
  try {
    origin = new URL(url).origin;
  } catch {
    return "";
  }
  const allowed = allowedOrigins();
  if (allowed.includes(origin)) return "";
  return (
    `The API ${origin} is not one this dashboard may call, so nothing was sent to it (not your token either). ` +
    `This dashboard calls ${allowed.join(", ")} only; its server lists other API origins in DASHBOARD_API_ORIGINS ` +
    `(the DashboardAPIOrigins parameter of the stack). Press "Same origin" to use the API this page came from.`
  );
}

/** initialBaseURL is the API to use and, if it is refused, why. */
function initialBaseURL(): { url: string; refused: string } {
  const params = new URLSearchParams(location.search);
  const fromQuery = params.get("api")?.trim();
  if (fromQuery) {
    dropQueryParam();
    const why = refusal(fromQuery);
    if (!why) store(() => localStorage, API_KEY, fromQuery === sameOrigin() ? "" : fromQuery);
    return { url: fromQuery, refused: why };
  }
  const saved = stored(() => localStorage, API_KEY);
  if (saved && refusal(saved)) {
    // Saved before the allow-list changed (or by an older dashboard).
    store(() => localStorage, API_KEY, "");
    return { url: saved, refused: refusal(saved) };
  }
  return { url: saved || sameOrigin(), refused: "" };
}

/**
 * initialToken is the bearer token: from ?token= (the local stack prints
 * such a link; the token is then kept for the session and removed from the
 * address), else the one saved for this session.
 */
function initialToken(): string {
  const u = new URL(location.href);
  const fromQuery = u.searchParams.get("token")?.trim();
  if (fromQuery) {
    store(() => sessionStorage, TOKEN_KEY, fromQuery);
    u.searchParams.delete("token");
    history.replaceState(null, "", u.href);
    return fromQuery;
  }
  return stored(() => sessionStorage, TOKEN_KEY);
}

function main(): void {
  const banner = document.getElementById("error-banner") as HTMLElement;
  const root = document.getElementById("main") as HTMLElement;
  const form = document.getElementById("settings") as HTMLFormElement;
  const apiField = document.getElementById("api-url") as HTMLInputElement;
  const tokenField = document.getElementById("api-token") as HTMLInputElement;
  const reset = document.getElementById("api-reset") as HTMLButtonElement;
  const shown = document.getElementById("api-shown") as HTMLElement;
  const whoami = document.getElementById("whoami") as HTMLElement;
  const nav = document.getElementById("nav") as HTMLElement;
  const agentServerURL = meta("edgesync-agent-server-url");

  let app: App | undefined;
  let view: View | undefined;
  let session = 0; // a new connect makes older answers moot

  const showRole = () => {
    for (const a of nav.querySelectorAll<HTMLElement>("[data-role]")) {
      a.hidden = !app?.can(a.dataset.role as "admin");
    }
    whoami.hidden = !app?.me;
    if (app?.me) {
      replace(whoami, "signed in as ", h("strong", { id: "whoami-role", "data-role": app.me.role }, app.me.role), app.me.subject ? ` · ${app.me.subject}` : "");
    }
  };

  const connect = async (baseURL: string, token: string, refused = "") => {
    view?.dispose();
    view = undefined;
    const mine = ++session;
    apiField.value = baseURL;
    tokenField.value = token;
    app = undefined;
    showRole();
    refused ||= refusal(baseURL);
    if (refused) {
      shown.textContent = "not set";
      showFatal(banner, refused);
      replace(root, h("section", { class: "panel", id: "not-connected" }, h("p", { class: "empty" }, "Not connected: choose an API above.")));
      return;
    }
    let next: App;
    try {
      next = new App(baseURL, token, banner, agentServerURL);
      shown.textContent = next.api.baseURL;
    } catch (err) {
      shown.textContent = "not set";
      showFatal(banner, `Set the API URL above: ${err instanceof Error ? err.message : String(err)}`);
      replace(root, h("section", { class: "panel", id: "not-connected" }, h("p", { class: "empty" }, "Not connected: set the API URL above.")));
      return;
    }
    next.clearAll();
    replace(root, h("section", { class: "panel" }, h("p", { class: "empty", id: "signing-in" }, "Signing in…")));
    try {
      next.me = await next.api.getMe();
    } catch (err) {
      if (mine !== session) return;
      next.report("me", "Signing in failed", err);
      const retry = h("button", { type: "button", id: "me-retry" }, "Retry");
      retry.addEventListener("click", () => void connect(baseURL, token));
      replace(
        root,
        h(
          "section",
          { class: "panel", id: "not-signed-in" },
          h("p", { class: "empty" }, token ? "The API did not accept the token; see the error above." : "Enter a bearer token above to see the fleet."),
          retry,
        ),
      );
      return;
    }
    if (mine !== session) return;
    app = next;
    showRole();
    route();
  };

  const route = () => {
    view?.dispose();
    view = undefined;
    if (!app) return;
    app.clearAll();
    const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
    for (const a of nav.querySelectorAll<HTMLAnchorElement>("a[data-nav]")) {
      a.classList.toggle("current", path === "/" ? a.dataset.nav === "fleet" : path.startsWith(`/${a.dataset.nav}`));
    }
    const m = /^\/terminals\/([^/]+)$/.exec(path);
    if (m) {
      let id = "";
      try {
        id = decodeURIComponent(m[1]);
      } catch {
        id = "";
      }
      if (id) {
        document.title = `${id} · edgesync`;
        view = terminalView(app, root, id);
        return;
      }
    }
    const ro = /^\/rollouts\/([^/]+)\/([^/]+)$/.exec(path);
    if (ro) {
      try {
        const [group, id] = [decodeURIComponent(ro[1]), decodeURIComponent(ro[2])];
        document.title = `Rollout ${id} · edgesync`;
        view = rolloutView(app, root, group, id);
        return;
      } catch {
        // a malformed address: the fleet below
      }
    }
    if (path === "/logs") {
      document.title = "Search logs · edgesync";
      view = searchView(app, root);
      return;
    }
    if (path === "/alerts") {
      document.title = "Alerts · edgesync";
      view = alertsView(app, root);
      return;
    }
    if (path === "/rollouts") {
      document.title = "Rollouts · edgesync";
      view = rolloutsView(app, root);
      return;
    }
    if (path === "/audit") {
      document.title = "Audit · edgesync";
      view = auditView(app, root);
      return;
    }
    if (path === "/register") {
      document.title = "Register a terminal · edgesync";
      view = registerView(app, root);
      return;
    }
    document.title = "Fleet · edgesync";
    view = fleetView(app, root);
  };

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const url = apiField.value.trim() || sameOrigin();
    const token = tokenField.value.trim();
    const why = refusal(url);
    if (!why) store(() => localStorage, API_KEY, url === sameOrigin() ? "" : url);
    store(() => sessionStorage, TOKEN_KEY, token);
    dropQueryParam();
    void connect(url, token, why);
  });
  reset.addEventListener("click", () => {
    store(() => localStorage, API_KEY, "");
    dropQueryParam();
    void connect(sameOrigin(), tokenField.value.trim());
  });
  window.addEventListener("hashchange", route);

  const first = initialBaseURL();
  void connect(first.url, initialToken(), first.refused);
}

/** dropQueryParam removes ?api= from the address once it was read. */
function dropQueryParam(): void {
  const u = new URL(location.href);
  if (u.searchParams.has("api")) {
    u.searchParams.delete("api");
    history.replaceState(null, "", u.href);
  }
}

function showFatal(banner: HTMLElement, msg: string): void {
  banner.hidden = false;
  banner.replaceChildren();
  const li = document.createElement("li");
  li.className = "error-message";
  li.textContent = msg;
  const ul = document.createElement("ul");
  ul.appendChild(li);
  banner.appendChild(ul);
}

main();
