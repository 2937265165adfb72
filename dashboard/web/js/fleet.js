// The fleet at a glance: every terminal, online or not, when it was last
// seen and whether its status and config are fresh.
import { h, replace, ago, fullTime, badge, freshnessBadge } from "./dom.js";
const REFRESH_MS = 5000;
/** fleetView mounts the fleet table into root. */
export function fleetView(app, root) {
    const ctl = new AbortController();
    const summary = h("p", { class: "summary", id: "fleet-summary" }, "Loading terminals…");
    const body = h("tbody", { id: "fleet-rows" });
    const table = h("table", { class: "fleet", id: "fleet" }, h("thead", {}, h("tr", {}, ["Terminal", "State", "Last seen", "Status", "Config", "Agent"].map((c) => h("th", { scope: "col" }, c)), ["Log seq", "Dropped"].map((c) => h("th", { scope: "col", class: "num" }, c)))), body);
    const refresh = h("button", { type: "button", id: "fleet-refresh" }, "Refresh");
    replace(root, h("section", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", {}, "Fleet"), refresh), summary, table));
    let terminals = [];
    const render = () => {
        const now = Date.now();
        const online = terminals.filter((t) => t.online).length;
        const stale = terminals.filter((t) => t.status.stale || t.config.stale).length;
        replace(summary, `${terminals.length} terminal${terminals.length === 1 ? "" : "s"} · `, h("span", { class: "count-online" }, `${online} online`), " · ", h("span", { class: "count-offline" }, `${terminals.length - online} offline`), " · ", `${stale} with stale data`);
        if (terminals.length === 0) {
            replace(body, h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No terminals registered yet.")));
            return;
        }
        replace(body, terminals.map((t) => h("tr", { "data-terminal-id": t.id, "data-online": String(t.online) }, h("td", {}, h("a", { href: `#/terminals/${encodeURIComponent(t.id)}`, class: "terminal-link" }, t.id), t.name && t.name !== t.id ? h("div", { class: "muted" }, t.name) : null), h("td", {}, stateBadge(t)), h("td", { title: fullTime(t.lastSeen) }, ago(t.lastSeen, now)), h("td", {}, freshnessBadge(t.status, "status")), h("td", {}, freshnessBadge(t.config, "config")), h("td", {}, t.agentVersion ?? "—"), h("td", { class: "num" }, String(t.lastSeq)), h("td", { class: t.dropped > 0 ? "num warn-text" : "num" }, String(t.dropped)))));
    };
    const load = async () => {
        terminals = (await app.api.listAllTerminals({ signal: ctl.signal })).sort((a, b) => a.id.localeCompare(b.id));
        render();
    };
    refresh.addEventListener("click", () => {
        load().then(() => app.clear("fleet"), (err) => app.report("fleet", "Loading the terminals failed", err));
    });
    app.poll("fleet", "Loading the terminals failed", REFRESH_MS, ctl.signal, load);
    return { dispose: () => ctl.abort() };
}
/** stateBadge says whether a terminal is online, offline or quiet. */
export function stateBadge(t) {
    if (t.online)
        return badge("online", "ok", { "data-state": "online" });
    if (t.inactive)
        return badge("inactive", "warn", { "data-state": "inactive", title: "connected but not heard from recently" });
    return badge("offline", "bad", { "data-state": "offline", title: t.disconnectReason ? `disconnected: ${t.disconnectReason}` : "" });
}
