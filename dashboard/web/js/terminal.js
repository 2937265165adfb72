// One terminal: its state, status with a chart of recent history, its
// config (reported beside desired, with an editor for operators), the live
// log viewer, resync and command buttons that show each command's outcome
// (operators), and its credentials (admins). A user sees only the buttons
// their role can use.
import { EdgesyncError, maskSecrets } from "./client.js";
import { h, replace, ago, clock, fullTime, percent, duration, badge, freshnessBadge, freshUntilNote } from "./dom.js";
import { statusChart } from "./chart.js";
import { stateBadge } from "./fleet.js";
import { logViewer } from "./logs.js";
import { configPanel } from "./config.js";
import { credentialsPanel } from "./admin.js";
const TERMINAL_MS = 5000;
const STATUS_MS = 5000;
const CONFIG_MS = 5000;
const HISTORY_SINCE = "30m";
const HISTORY_LIMIT = 360;
const COMMAND_POLL_MS = 400;
const MAX_COMMAND_ROWS = 12;
const COMMANDS = [
    { name: "ping", label: "Ping" },
    { name: "get_status", label: "Get status" },
    { name: "get_config", label: "Get config" },
    { name: "get_logs", label: "Get logs" },
];
/** terminalView mounts the page of terminal id into root. */
export function terminalView(app, root, id) {
    const ctl = new AbortController();
    const signal = ctl.signal;
    const title = h("h2", { id: "terminal-title" }, id);
    const facts = h("div", { class: "facts", id: "terminal-facts" }, "Loading…");
    const resync = h("button", { type: "button", id: "btn-resync", class: "primary", title: "Pull status, config and new logs now" }, "Resync");
    const buttons = COMMANDS.map((c) => h("button", { type: "button", id: `btn-${c.name}`, "data-command": c.name }, c.label));
    const outcomes = h("ol", { class: "outcomes", id: "command-outcomes", "aria-live": "polite" });
    const statusFresh = h("span", { id: "status-freshness" });
    const statusBody = h("div", { id: "status-body" }, "Loading…");
    const chartBox = h("div", { id: "status-chart" });
    const logsSlot = h("section", { class: "panel" }, h("h3", {}, "Logs"), h("p", { class: "empty" }, "Loading…"));
    const operator = app.can("operator");
    const config = configPanel(app, id, signal, () => kickConfig());
    const credentials = app.can("admin") ? credentialsPanel(app, id, signal) : undefined;
    let terminal;
    replace(root, h("p", {}, h("a", { href: "#/", class: "back" }, "← Fleet")), h("section", { class: "panel terminal-head" }, h("div", { class: "panel-head" }, title, operator ? h("div", { class: "actions" }, resync, buttons) : h("span", { class: "muted", id: "read-only-note" }, `Read only: ${app.needs("operator", "sending commands and changing config")}`)), facts, outcomes), h("div", { class: "columns" }, h("section", { class: "panel", id: "status-panel" }, h("div", { class: "panel-head" }, h("h3", {}, "Status"), statusFresh), statusBody, chartBox), config.element), logsSlot, credentials?.element);
    const loadTerminal = async () => {
        const t = await app.api.getTerminal(id, { signal });
        terminal = t;
        config.setOnline(t.online);
        replace(title, t.id, t.name && t.name !== t.id ? h("span", { class: "muted" }, ` ${t.name}`) : "");
        replace(facts, stateBadge(t), fact("Last seen", ago(t.lastSeen), fullTime(t.lastSeen)), t.online ? fact("Connected", ago(t.connectedAt), fullTime(t.connectedAt)) : fact("Disconnected", ago(t.disconnectedAt), t.disconnectReason ?? ""), fact("Agent", t.agentVersion ?? "—"), fact("Log seq", String(t.lastSeq)), t.dropped > 0 ? fact("Dropped lines", String(t.dropped)) : null);
        for (const b of [resync, ...buttons]) {
            b.disabled = !t.online;
            b.dataset.title ??= b.title;
            b.title = t.online ? b.dataset.title : "The terminal is offline";
        }
    };
    const loadStatus = async () => {
        const [st, hist] = await Promise.all([
            app.api.getTerminalStatus(id, { signal }),
            app.api.getStatusHistory(id, { since: HISTORY_SINCE, limit: HISTORY_LIMIT }, { signal }),
        ]);
        renderStatus(st);
        replace(chartBox, statusChart(hist.samples));
    };
    const renderStatus = (st) => {
        replace(statusFresh, freshnessBadge(st, "status"), h("span", { class: "muted", id: "status-synced", "data-synced-at": st.syncedAt ?? "" }, ` synced ${clock(st.syncedAt)}`), freshUntilNote(st, "status-fresh-until"));
        const d = st.data;
        if (!d) {
            replace(statusBody, h("p", { class: "empty" }, "The terminal has not reported a status yet."));
            return;
        }
        const load = [d.load1, d.load5, d.load15].every((v) => typeof v === "number") ? `${d.load1} / ${d.load5} / ${d.load15}` : "—";
        replace(statusBody, h("dl", { class: "metrics" }, metric("CPU", percent(d.cpu_percent), "cpu"), metric("Memory", percent(d.memory_percent), "memory"), metric("Disk", percent(d.disk_percent), "disk", d.disk_path), metric("Load", load, "load"), metric("Uptime", duration(d.uptime_seconds), "uptime"), metric("Host", typeof d.hostname === "string" ? d.hostname : "—", "host")));
    };
    const loadConfig = async () => {
        config.show(await app.api.getTerminalConfig(id, { signal }));
    };
    // The status, config and logs are read once the terminal is known to
    // exist; an unknown terminal is one error, not four.
    let kickStatus = () => { };
    let kickConfig = () => { };
    let started = false;
    const kickTerminal = app.poll("terminal", `Loading terminal ${id} failed`, TERMINAL_MS, signal, async () => {
        try {
            await loadTerminal();
        }
        catch (err) {
            if (err instanceof EdgesyncError && err.status === 404 && !started) {
                ctl.abort();
                app.report("terminal", `Loading terminal ${id} failed`, err);
                replace(root, h("p", {}, h("a", { href: "#/", class: "back" }, "← Fleet")), h("section", { class: "panel", id: "terminal-missing" }, h("p", { class: "empty" }, `There is no terminal ${id}.`)));
                return;
            }
            throw err;
        }
        if (!started) {
            started = true;
            kickStatus = app.poll("status", `Loading the status of ${id} failed`, STATUS_MS, signal, loadStatus);
            kickConfig = app.poll("config", `Loading the config of ${id} failed`, CONFIG_MS, signal, loadConfig);
            if (credentials)
                app.poll("credentials-list", `Loading the credentials of ${id} failed`, CONFIG_MS, signal, credentials.load);
            logsSlot.replaceWith(logViewer(app, id, signal, () => terminal));
        }
    });
    const showOutcome = (label) => {
        const row = h("li", { class: "outcome", "data-command": label, "data-state": "sending" }, badge("sending", "muted"), h("span", { class: "outcome-name" }, label));
        outcomes.prepend(row);
        while (outcomes.children.length > MAX_COMMAND_ROWS && outcomes.lastElementChild)
            outcomes.lastElementChild.remove();
        return row;
    };
    const renderOutcome = (row, c) => {
        row.dataset.state = c.state;
        row.dataset.requestId = c.requestId;
        const kind = c.state === "succeeded" ? "ok" : c.state === "pending" ? "info" : c.state === "timed_out" ? "warn" : "bad";
        const took = c.completedAt ? ` in ${Math.max(0, Date.parse(c.completedAt) - Date.parse(c.createdAt))} ms` : "";
        const detail = c.state === "failed" ? c.error ?? "failed" : c.state === "timed_out" ? `no answer by ${clock(c.deadline)}` : c.state === "succeeded" ? summarize(c) : "waiting for the terminal…";
        replace(row, badge(c.state.replace("_", " "), kind), h("span", { class: "outcome-name" }, c.command), h("span", { class: "muted" }, ` ${clock(c.createdAt)}${took}`), h("span", { class: "outcome-detail" }, detail));
    };
    const follow = async (row, c) => {
        renderOutcome(row, c);
        const done = await app.api.waitForCommand(id, c.requestId, { intervalMs: COMMAND_POLL_MS, signal });
        renderOutcome(row, done);
        return done;
    };
    const failRow = (row, label, err) => {
        row.dataset.state = "error";
        replace(row, badge("not sent", "bad"), h("span", { class: "outcome-name" }, label), h("span", { class: "outcome-detail" }, err instanceof Error ? err.message : String(err)));
    };
    const afterCommand = (name) => {
        if (name === "get_status")
            kickStatus();
        if (name === "get_config" || name === "set_config")
            kickConfig();
        kickTerminal();
    };
    for (const b of buttons) {
        b.addEventListener("click", async () => {
            const name = b.dataset.command;
            const row = showOutcome(name);
            try {
                const c = await app.api.sendCommand(id, name, name === "get_logs" ? { count: 100 } : undefined, { signal });
                const done = await follow(row, c);
                app.clear("command");
                afterCommand(done.command);
            }
            catch (err) {
                if (signal.aborted)
                    return;
                failRow(row, name, err);
                app.report("command", `Sending ${name} to ${id} failed`, err);
            }
        });
    }
    resync.addEventListener("click", async () => {
        const row = showOutcome("resync");
        try {
            const res = await app.api.sync(id, { signal });
            row.remove();
            const rows = res.commands.map((c) => ({ c, row: showOutcome(c.command) }));
            await Promise.all(rows.map(({ c, row }) => follow(row, c)));
            app.clear("command");
            kickStatus();
            kickConfig();
            kickTerminal();
        }
        catch (err) {
            if (signal.aborted)
                return;
            failRow(row, "resync", err);
            app.report("command", `Resyncing ${id} failed`, err);
        }
    });
    return { dispose: () => ctl.abort() };
}
function fact(label, value, title = "") {
    return h("span", { class: "fact", title }, h("span", { class: "muted" }, `${label} `), value);
}
function metric(label, value, key, title) {
    return h("div", { class: "metric" }, h("dt", {}, label), h("dd", { "data-metric": key, title: title ?? "" }, value));
}
/** summarize says in one line what a succeeded command returned. */
function summarize(c) {
    const r = c.result;
    if (r === undefined || r === null)
        return "done";
    if (c.command === "get_logs" && typeof r.count === "number") {
        // The service keeps a summary; the lines themselves are in the log store.
        const span = r.count > 0 && typeof r.firstSeq === "number" ? ` (seq ${r.firstSeq}–${r.lastSeq})` : "";
        return `${r.count} line${r.count === 1 ? "" : "s"} returned${span}`;
    }
    if (c.command === "get_logs" && Array.isArray(r.entries))
        return `${r.entries.length} line${r.entries.length === 1 ? "" : "s"} returned`;
    if (c.command === "get_logs" && r.encoding)
        return "lines returned (compressed)";
    if (c.command === "get_status")
        return `cpu ${percent(r.cpu_percent)}, memory ${percent(r.memory_percent)}, disk ${percent(r.disk_percent)}`;
    if (c.command === "get_config")
        return `${Object.keys(r).length} keys`;
    if (c.command === "set_config" && typeof r.version === "string")
        return `now at version ${r.version}`;
    const text = JSON.stringify(maskSecrets(r));
    return text.length > 160 ? text.slice(0, 157) + "…" : text;
}
