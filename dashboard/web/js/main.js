// The dashboard's entry point: where the API is, and which page to show.
//
// The API's base URL comes from, in order: the ?api= query parameter (then
// remembered), the URL saved in the settings field (localStorage), or the
// page's own origin and directory, which is where the query function and
// the local stack serve both the dashboard and the API.
import { App } from "./app.js";
import { fleetView } from "./fleet.js";
import { terminalView } from "./terminal.js";
const API_KEY = "edgesync.apiURL";
const TOKEN_KEY = "edgesync.token";
function stored(storage, key) {
    try {
        return storage().getItem(key) ?? "";
    }
    catch {
        return ""; // storage disabled
    }
}
function store(storage, key, value) {
    try {
        if (value)
            storage().setItem(key, value);
        else
            storage().removeItem(key);
    }
    catch {
        // storage disabled: the setting lasts for this page only
    }
}
/** sameOrigin is the API URL when the dashboard is served by the API itself. */
function sameOrigin() {
    if (location.protocol !== "http:" && location.protocol !== "https:")
        return "";
    return new URL(".", location.href).href.replace(/\/+$/, "");
}
function initialBaseURL() {
    const params = new URLSearchParams(location.search);
    const fromQuery = params.get("api")?.trim();
    if (fromQuery) {
        store(() => localStorage, API_KEY, fromQuery);
        return fromQuery;
    }
    return stored(() => localStorage, API_KEY) || sameOrigin();
}
/**
 * initialToken is the bearer token: from ?token= (the local stack prints
 * such a link; the token is then kept for the session and removed from the
 * address), else the one saved for this session.
 */
function initialToken() {
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
function main() {
    const banner = document.getElementById("error-banner");
    const root = document.getElementById("main");
    const form = document.getElementById("settings");
    const apiField = document.getElementById("api-url");
    const tokenField = document.getElementById("api-token");
    const reset = document.getElementById("api-reset");
    const shown = document.getElementById("api-shown");
    let app;
    let view;
    const connect = (baseURL, token) => {
        view?.dispose();
        view = undefined;
        apiField.value = baseURL;
        tokenField.value = token;
        try {
            app = new App(baseURL, token, banner);
            shown.textContent = app.api.baseURL;
        }
        catch (err) {
            app = undefined;
            shown.textContent = "not set";
            showFatal(banner, err instanceof Error ? err.message : String(err));
            return;
        }
        route();
    };
    const route = () => {
        view?.dispose();
        view = undefined;
        if (!app)
            return;
        app.clearAll();
        const m = /^#\/terminals\/([^/]+)$/.exec(location.hash);
        let id = "";
        if (m) {
            try {
                id = decodeURIComponent(m[1]);
            }
            catch {
                id = "";
            }
        }
        document.title = id ? `${id} · edgesync` : "Fleet · edgesync";
        view = id ? terminalView(app, root, id) : fleetView(app, root);
    };
    form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const url = apiField.value.trim() || sameOrigin();
        const token = tokenField.value.trim();
        store(() => localStorage, API_KEY, url === sameOrigin() ? "" : url);
        store(() => sessionStorage, TOKEN_KEY, token);
        dropQueryParam();
        connect(url, token);
    });
    reset.addEventListener("click", () => {
        store(() => localStorage, API_KEY, "");
        dropQueryParam();
        connect(sameOrigin(), tokenField.value.trim());
    });
    window.addEventListener("hashchange", route);
    connect(initialBaseURL(), initialToken());
}
/** dropQueryParam removes ?api= from the address once the setting is saved. */
function dropQueryParam() {
    const u = new URL(location.href);
    if (u.searchParams.has("api")) {
        u.searchParams.delete("api");
        history.replaceState(null, "", u.href);
    }
}
function showFatal(banner, msg) {
    banner.hidden = false;
    banner.replaceChildren();
    const li = document.createElement("li");
    li.className = "error-message";
    li.textContent = `Set the API URL above: ${msg}`;
    const ul = document.createElement("ul");
    ul.appendChild(li);
    banner.appendChild(ul);
}
main();
