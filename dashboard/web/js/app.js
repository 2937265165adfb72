// The shared state of the dashboard: the API client, the error banner and
// polling.
import { EdgesyncClient, EdgesyncError, hasRole } from "./client.js";
import { h, replace } from "./dom.js";
/** App is what every view gets: the client, who the user is and the error banner. */
export class App {
    api;
    baseURL;
    /** agentServerURL is the WebSocket URL for agent configurations ("" when the server did not say). */
    agentServerURL;
    /** me is the signed-in user (GET /me), once known. */
    me;
    #errors = new Map();
    #banner;
    constructor(baseURL, token, banner, agentServerURL = "") {
        this.baseURL = baseURL;
        this.agentServerURL = agentServerURL;
        this.api = new EdgesyncClient({ baseURL, getAuthHeader: () => (token ? `Bearer ${token}` : undefined) });
        this.#banner = banner;
    }
    /** can reports whether the signed-in user holds role (false while unknown). */
    can(role) {
        return hasRole(this.me?.role, role);
    }
    /** needs says that something needs role and what the user is, e.g. "This needs the admin role; you are signed in as viewer (ann)." */
    needs(role, what = "This") {
        return `${what} needs the ${role} role; ${this.#signedInAs()}.`;
    }
    #signedInAs() {
        if (!this.me)
            return "your role is not known yet";
        return `you are signed in as ${this.me.role}${this.me.subject ? ` (${this.me.subject})` : ""}`;
    }
    /** report shows what failed in the banner under source until clear(source) or dismissal. Aborts are ignored. */
    report(source, what, err) {
        if (isAbort(err))
            return;
        this.#errors.delete(source);
        let msg = `${what}: ${describe(err)}`;
        if (err instanceof EdgesyncError && err.status === 403 && this.me) {
            msg += ` (${this.#signedInAs()})`;
        }
        this.#errors.set(source, msg);
        this.#render();
    }
    /** clear removes source's message from the banner. */
    clear(source) {
        if (this.#errors.delete(source))
            this.#render();
    }
    /** clearAll empties the banner (on navigation). */
    clearAll() {
        this.#errors.clear();
        this.#render();
    }
    #render() {
        const msgs = [...this.#errors.values()].reverse();
        if (msgs.length === 0) {
            this.#banner.hidden = true;
            replace(this.#banner);
            return;
        }
        this.#banner.hidden = false;
        replace(this.#banner, h("ul", {}, msgs.map((m) => h("li", { class: "error-message" }, m))), h("button", { type: "button", class: "dismiss", "aria-label": "Dismiss errors", onclick: () => this.clearAll() }, "×"));
    }
    /**
     * poll runs fn now and then every intervalMs after each run ends, until
     * signal aborts. A failure is reported under source; a success clears it.
     * fn may return true to run again at once (more data waiting). The
     * returned function cuts the current wait short.
     */
    poll(source, what, intervalMs, signal, fn) {
        let kick = () => { };
        const run = async () => {
            while (!signal.aborted) {
                let again = false;
                try {
                    again = (await fn()) === true;
                    if (!signal.aborted)
                        this.clear(source);
                }
                catch (err) {
                    if (signal.aborted)
                        return;
                    this.report(source, what, err);
                }
                if (!again) {
                    const cut = new AbortController();
                    kick = () => cut.abort();
                    await wait(intervalMs, signal, cut.signal);
                }
            }
        };
        void run();
        return () => kick();
    }
}
/** describe turns an error into the text the banner shows. */
export function describe(err) {
    if (err instanceof EdgesyncError) {
        if (err.status === 0 && err.code === "network") {
            return `${err.message} — check the API URL and token above, and that the API allows this origin (CORS)`;
        }
        const hint = err.status === 401
            ? " — enter a bearer token (a JWT of the API's identity provider) in the Token field above"
            : err.status === 403
                ? ` — ${/needs the \w+ role/.test(err.message) ? "ask an admin for that role" : "the token's role does not allow this"}`
                : "";
        return `${err.message} [${err.code}${err.status ? `, HTTP ${err.status}` : ""}]${hint}`;
    }
    if (err instanceof Error)
        return err.message;
    return String(err);
}
/** isAbort reports whether err is an aborted request. */
export function isAbort(err) {
    return err instanceof DOMException && err.name === "AbortError";
}
/** wait resolves after ms, or at once when one of signals aborts. */
export function wait(ms, ...signals) {
    return new Promise((resolve) => {
        if (signals.some((s) => s.aborted))
            return resolve();
        const t = setTimeout(done, ms);
        function done() {
            clearTimeout(t);
            for (const s of signals)
                s.removeEventListener("abort", done);
            resolve();
        }
        for (const s of signals)
            s.addEventListener("abort", done, { once: true });
    });
}
