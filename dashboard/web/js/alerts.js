// The alerts page: the alerts of the user's groups (open, acknowledged,
// cleared), refreshed every few seconds, with an Acknowledge button for
// operators, and each group's alert rules with a form to add one and
// buttons to delete them (operators of the group).
import { h, replace, ago, fullTime, badge, hashParams, setHashParams } from "./dom.js";
const POLL_MS = 3000;
const KINDS = [
    { kind: "offline", label: "offline longer than" },
    { kind: "error_rate", label: "error lines above a rate" },
    { kind: "status", label: "status field crosses a threshold" },
    { kind: "dropped", label: "dropped lines increasing" },
];
/** alertsView is the alerts page; #/alerts?state=…&group=… keeps its filters. */
export function alertsView(app, root) {
    const ctl = new AbortController();
    const p = hashParams();
    const groups = app.me?.groups ?? [];
    const state = h("select", { id: "alerts-state", "aria-label": "State" }, h("option", { value: "active" }, "open and acknowledged"), h("option", { value: "open" }, "open"), h("option", { value: "acknowledged" }, "acknowledged"), h("option", { value: "cleared" }, "cleared"), h("option", { value: "" }, "all"));
    state.value = p.get("state") ?? "active";
    const group = h("select", { id: "alerts-group", "aria-label": "Group" }, h("option", { value: "" }, app.can("admin") ? "every group" : "all my groups"), groups.map((g) => h("option", { value: g }, g)));
    group.value = p.get("group") ?? "";
    const summary = h("p", { class: "summary", id: "alerts-summary" }, "Loading alerts…");
    const rows = h("tbody", { id: "alerts-rows" });
    const rules = rulesPanel(app, ctl.signal, () => group.value || groups[0] || "");
    replace(root, h("section", { class: "panel", id: "alerts-panel" }, h("div", { class: "panel-head" }, h("h2", {}, "Alerts"), h("div", { class: "controls" }, state, group)), summary, h("div", { class: "table-scroll" }, h("table", { class: "alerts", id: "alerts" }, h("thead", {}, h("tr", {}, ["State", "Terminal", "Group", "Rule", "What", "Opened", ""].map((c) => h("th", { scope: "col" }, c)))), rows))), rules.element);
    let generation = 0;
    const load = async () => {
        const gen = generation;
        const alerts = [];
        let cursor = "";
        do {
            const page = await app.api.listAlerts({ state: (state.value || undefined), group: group.value || undefined, cursor: cursor || undefined, limit: 500 }, { signal: ctl.signal });
            alerts.push(...page.alerts);
            cursor = page.nextCursor;
        } while (cursor && alerts.length < 2000);
        if (gen !== generation)
            return;
        replace(rows, alerts.map((a) => alertRow(app, a, () => kick())));
        const open = alerts.filter((a) => a.state === "open").length;
        summary.textContent = alerts.length === 0 ? "No alerts." : `${alerts.length} alert${alerts.length === 1 ? "" : "s"}${open ? `, ${open} open` : ""}.`;
    };
    const refilter = () => {
        generation++;
        const params = new URLSearchParams();
        if (state.value !== "active")
            params.set("state", state.value);
        if (group.value)
            params.set("group", group.value);
        setHashParams(params);
        replace(rows);
        summary.textContent = "Loading alerts…";
        kick();
        void rules.load();
    };
    state.addEventListener("change", refilter);
    group.addEventListener("change", refilter);
    const kick = app.poll("alerts", "Reading the alerts failed", POLL_MS, ctl.signal, load);
    void rules.load();
    return { dispose: () => ctl.abort() };
}
function alertRow(app, a, reload) {
    const kind = a.state === "open" ? "bad" : a.state === "acknowledged" ? "warn" : "muted";
    let action = null;
    if (a.state === "open" && app.can("operator")) {
        const b = h("button", { type: "button", class: "ack", "data-ack": `${a.ruleId}/${a.terminalId}` }, "Acknowledge");
        b.addEventListener("click", async () => {
            b.disabled = true;
            try {
                await app.api.acknowledgeAlert(a);
                app.clear("alert-ack");
                reload();
            }
            catch (err) {
                app.report("alert-ack", `Acknowledging the alert of ${a.terminalId} failed`, err);
                b.disabled = false;
            }
        });
        action = b;
    }
    else if (a.state === "acknowledged") {
        action = h("span", { class: "muted", title: fullTime(a.acknowledgedAt) }, `by ${a.acknowledgedBy ?? "?"} ${ago(a.acknowledgedAt)}`);
    }
    else if (a.state === "cleared") {
        action = h("span", { class: "muted", title: fullTime(a.clearedAt) }, `cleared ${ago(a.clearedAt)}`);
    }
    return h("tr", { "data-alert": `${a.group} ${a.ruleId} ${a.terminalId}`, "data-terminal-id": a.terminalId, "data-state": a.state, "data-kind": a.kind }, h("td", {}, badge(a.state, kind)), h("td", {}, h("a", { href: `#/terminals/${encodeURIComponent(a.terminalId)}` }, a.terminalId)), h("td", {}, a.group), h("td", {}, a.ruleName || a.kind), h("td", { class: "alert-message" }, a.message), h("td", { title: fullTime(a.openedAt) }, ago(a.openedAt)), h("td", {}, action));
}
/** rulesPanel lists one group's rules and, for operators, adds and deletes them. */
function rulesPanel(app, signal, currentGroup) {
    const title = h("h3", { id: "rules-title" }, "Rules");
    const list = h("ul", { class: "rules", id: "rules" });
    const kind = h("select", { id: "rule-kind", "aria-label": "Kind" }, KINDS.map((k) => h("option", { value: k.kind }, k.label)));
    const name = h("input", { id: "rule-name", placeholder: "Name (optional)", autocomplete: "off", "aria-label": "Name", size: 16 });
    const minutes = h("input", { id: "rule-minutes", type: "number", min: 0, value: 5, "aria-label": "Minutes", size: 5 });
    const field = h("input", { id: "rule-field", placeholder: "disk_percent", autocomplete: "off", "aria-label": "Status field", size: 14 });
    const op = h("select", { id: "rule-op", "aria-label": "Comparison" }, [">", ">=", "<", "<="].map((o) => h("option", { value: o }, o)));
    const threshold = h("input", { id: "rule-threshold", type: "number", step: "any", value: 90, "aria-label": "Threshold", size: 6 });
    const add = h("button", { type: "submit", class: "primary", id: "rule-add" }, "Add rule");
    const help = h("span", { class: "muted", id: "rule-help" });
    const form = h("form", { class: "filters", id: "rule-form" }, kind, name, minutes, field, op, threshold, add, help);
    const element = h("section", { class: "panel", id: "rules-panel" }, h("div", { class: "panel-head" }, title), list, app.can("operator") ? form : h("p", { class: "muted" }, app.needs("operator", "Writing rules")));
    const shape = () => {
        const k = kind.value;
        field.hidden = op.hidden = k !== "status";
        threshold.hidden = k !== "status" && k !== "error_rate";
        minutes.hidden = k === "status";
        help.textContent = {
            offline: "minutes offline (0: at once)",
            error_rate: "more than threshold error lines within minutes",
            status: "fires while the field compares true",
            dropped: "dropped lines rose within minutes",
        }[k];
    };
    kind.addEventListener("change", shape);
    shape();
    const load = async () => {
        const g = currentGroup();
        title.textContent = g ? `Rules of ${g}` : "Rules";
        if (!g) {
            replace(list, h("li", { class: "muted" }, app.can("admin") ? "Choose a group above to see its rules." : "You are in no group."));
            add.disabled = true;
            return;
        }
        add.disabled = false;
        try {
            const { rules } = await app.api.listAlertRules(g, { signal });
            app.clear("rules");
            replace(list, rules.length === 0 ? h("li", { class: "muted" }, "No rules.") : rules.map((r) => ruleItem(app, r, load)));
        }
        catch (err) {
            app.report("rules", `Reading the rules of ${g} failed`, err);
        }
    };
    form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const g = currentGroup();
        const k = kind.value;
        const rule = { kind: k };
        if (name.value.trim())
            rule.name = name.value.trim();
        if (k !== "status")
            rule.minutes = Number(minutes.value);
        if (k === "status") {
            rule.field = field.value.trim();
            rule.op = op.value;
        }
        if (k === "status" || k === "error_rate")
            rule.threshold = Number(threshold.value);
        add.disabled = true;
        try {
            await app.api.createAlertRule(g, rule, { signal });
            app.clear("rule-add");
            name.value = "";
            await load();
        }
        catch (err) {
            app.report("rule-add", `Adding the rule to ${g} failed`, err);
        }
        finally {
            add.disabled = false;
        }
    });
    return { element, load };
}
function describeRule(r) {
    switch (r.kind) {
        case "offline":
            return r.minutes ? `offline longer than ${r.minutes} min` : "offline";
        case "error_rate":
            return `more than ${r.threshold} error lines in ${r.minutes} min`;
        case "status":
            return `status ${r.field} ${r.op} ${r.threshold}`;
        case "dropped":
            return `dropped lines rose within ${r.minutes} min`;
    }
    return r.kind;
}
function ruleItem(app, r, reload) {
    const del = app.can("operator") ? h("button", { type: "button", class: "rule-delete", "data-rule-id": r.id }, "Delete") : null;
    del?.addEventListener("click", async () => {
        del.disabled = true;
        try {
            await app.api.deleteAlertRule(r.group, r.id);
            app.clear("rule-delete");
            await reload();
        }
        catch (err) {
            app.report("rule-delete", "Deleting the rule failed", err);
            del.disabled = false;
        }
    });
    return h("li", { "data-rule-id": r.id, "data-kind": r.kind }, h("strong", {}, r.name || r.kind), " — ", describeRule(r), h("span", { class: "muted", title: fullTime(r.createdAt) }, ` · by ${r.createdBy ?? "?"}`), del ? " " : null, del);
}
