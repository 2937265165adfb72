// A terminal's config: what it reports running beside what an operator
// asked for (the desired config), their differences, the state of the
// set_config that delivers it, and an editor for operators.
//
// Secrets stay masked everywhere: the table shows MASK, and the editor
// starts from the config with every secret value replaced by REDACTED,
// which the API and the terminal read as "keep the current value". To
// change a secret, type the new value over it.
import { MASK, REDACTED, isSecretKey, maskSecrets } from "./client.js";
import { h, replace, ago, clock, fullTime, badge, freshnessBadge, freshUntilNote } from "./dom.js";
const COMMAND_POLL_MS = 400;
/** MAX_CONFIG_BYTES is the API's bound on a desired config. */
const MAX_CONFIG_BYTES = 64 * 1024;
/** configPanel builds the panel of terminal id; afterApply runs when a set_config was sent. */
export function configPanel(app, id, signal, afterApply) {
    const fresh = h("span", { id: "config-freshness" });
    const edit = h("button", { type: "button", id: "btn-edit-config" }, "Edit config");
    const delivery = h("div", { id: "config-delivery", class: "delivery" });
    const body = h("div", { id: "config-body" }, "Loading…");
    const editorSlot = h("div", { id: "config-editor-slot" });
    const canEdit = app.can("operator");
    const element = h("section", { class: "panel", id: "config-panel" }, h("div", { class: "panel-head" }, h("h3", {}, "Config"), h("div", { class: "actions" }, fresh, canEdit ? edit : null)), delivery, editorSlot, body);
    let last;
    let online = false;
    let editing = false;
    const updateEdit = () => {
        edit.disabled = !online || editing || !last;
        edit.title = !online ? "The terminal is offline: a config can only be sent to a connected terminal" : editing ? "The editor is open" : "";
    };
    const show = (cfg) => {
        last = cfg;
        updateEdit();
        replace(fresh, freshnessBadge(cfg, "config"), h("span", { class: "muted", id: "config-synced", "data-synced-at": cfg.syncedAt ?? "" }, ` synced ${clock(cfg.syncedAt)}`), cfg.version ? h("span", { class: "muted", id: "config-version" }, ` · version ${cfg.version}`) : "", cfg.confirmedAt ? h("span", { class: "muted", id: "config-confirmed", "data-confirmed-at": cfg.confirmedAt, title: "when the terminal last said it runs this version" }, ` · confirmed ${clock(cfg.confirmedAt)}`) : "", freshUntilNote(cfg, "config-fresh-until"));
        replace(delivery, cfg.desired ? deliveryLine(cfg.desired) : "");
        if (!cfg.data && !cfg.desired?.data) {
            replace(body, h("p", { class: "empty" }, "The terminal has not reported its config yet."));
            return;
        }
        const rows = compare(cfg.data, cfg.desired?.data);
        const differences = rows.filter((r) => r.change !== "same").length;
        const withDesired = cfg.desired?.data !== undefined;
        replace(body, withDesired
            ? h("p", { class: differences ? "diff-summary warn-text" : "diff-summary ok-text", id: "config-diff-summary", "data-differences": differences }, differences ? `${differences} difference${differences === 1 ? "" : "s"} between what the terminal runs and the desired config` : "The terminal runs the desired config.")
            : null, h("div", { class: "table-scroll" }, h("table", { class: "config", id: "config-table" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Reported"), withDesired ? h("th", { scope: "col" }, "Desired") : null)), h("tbody", {}, rows.map((r) => h("tr", { "data-key": r.key, "data-change": r.change, class: r.change === "same" ? "" : `diff-${r.change}` }, h("th", { scope: "row" }, r.key), h("td", { class: "reported" }, r.reported ?? h("span", { class: "muted" }, "—")), withDesired ? h("td", { class: "desired" }, r.desired ?? h("span", { class: "muted" }, "—")) : null))))));
    };
    const openEditor = () => {
        if (!last || editing)
            return;
        editing = true;
        updateEdit();
        const d = last.desired;
        // Start from the desired config while it is not applied (to fix or
        // retry it), else from what the terminal runs.
        const base = d?.data && d.state !== "succeeded" ? d.data : (last.data ?? d?.data ?? {});
        const reported = last.data ?? {};
        const text = JSON.stringify(maskSecrets(base, REDACTED), null, 2);
        const area = h("textarea", { id: "config-editor", class: "editor", spellcheck: "false", rows: Math.min(24, text.split("\n").length + 2), "aria-label": "Desired config (JSON)" }, text);
        const check = h("div", { id: "config-check", class: "check", "aria-live": "polite" });
        const preview = h("ul", { id: "config-preview", class: "preview" });
        const apply = h("button", { type: "button", id: "config-apply", class: "primary" }, "Apply to terminal");
        const format = h("button", { type: "button", id: "config-format" }, "Format");
        const cancel = h("button", { type: "button", id: "config-cancel" }, "Cancel");
        const box = h("div", { class: "config-editor", id: "config-editor-box" }, h("p", { class: "muted" }, `Edit the JSON, then apply: it is sent to the terminal with set_config, checked, versioned and audited. Secret values read "${REDACTED}": leave them so to keep the terminal's value, or type a new one.`), area, check, preview, h("div", { class: "actions" }, apply, format, cancel));
        replace(editorSlot, box);
        let parsed;
        const validate = () => {
            const r = parseConfig(area.value);
            parsed = r.config;
            area.setAttribute("aria-invalid", String(!r.config));
            if (!r.config) {
                replace(check, badge("invalid", "bad", { "data-valid": "false" }), " ", h("span", { id: "config-error" }, r.error));
                replace(preview);
                apply.disabled = true;
                return;
            }
            const changes = compare(maskSecrets(reported, REDACTED), maskSecrets(r.config, REDACTED)).filter((x) => x.change !== "same");
            const secretsChanged = changedSecrets(r.config);
            replace(check, badge("valid JSON", "ok", { "data-valid": "true" }), ` · ${changes.length} change${changes.length === 1 ? "" : "s"} from what the terminal reports`, secretsChanged.length ? h("span", { class: "warn-text" }, ` · new value for ${secretsChanged.join(", ")}`) : "");
            replace(preview, changes.map((c) => h("li", { "data-key": c.key, "data-change": c.change }, h("code", {}, c.key), ": ", c.change === "added" ? `(new) ${c.desired}` : c.change === "removed" ? `${c.reported} (removed)` : `${c.reported} → ${c.desired}`)));
            apply.disabled = changes.length === 0 && secretsChanged.length === 0;
            apply.title = apply.disabled ? "Nothing to change" : "";
        };
        const close = () => {
            editing = false;
            replace(editorSlot);
            updateEdit();
        };
        area.addEventListener("input", validate);
        format.addEventListener("click", () => {
            if (parsed) {
                area.value = JSON.stringify(parsed, null, 2);
                validate();
            }
        });
        cancel.addEventListener("click", close);
        apply.addEventListener("click", async () => {
            if (!parsed)
                return;
            apply.disabled = true;
            try {
                const desired = await app.api.updateConfig(id, parsed, { signal });
                app.clear("config-set");
                close();
                replace(delivery, deliveryLine(desired));
                afterApply();
                if (desired.requestId) {
                    const done = await app.api.waitForCommand(id, desired.requestId, { intervalMs: COMMAND_POLL_MS, signal });
                    replace(delivery, deliveryLine({ ...desired, state: done.state, pending: done.state !== "succeeded", error: done.error }));
                    afterApply();
                }
            }
            catch (err) {
                if (signal.aborted)
                    return;
                apply.disabled = false;
                app.report("config-set", `Applying the config to ${id} failed`, err);
            }
        });
        validate();
        area.focus();
    };
    edit.addEventListener("click", openEditor);
    return {
        element,
        show,
        setOnline(v) {
            online = v;
            updateEdit();
        },
    };
}
/** deliveryLine says who set the desired config and where its set_config stands. */
function deliveryLine(d) {
    const kind = d.state === "succeeded" ? "ok" : d.state === "pending" ? "info" : d.state === "timed_out" ? "warn" : "bad";
    const what = d.state === "succeeded"
        ? "applied by the terminal"
        : d.state === "pending"
            ? "waiting for the terminal…"
            : d.state === "timed_out"
                ? "the terminal did not answer in time"
                : `refused by the terminal: ${d.error ?? "failed"}`;
    return h("p", { class: "delivery-line", "data-state": d.state, "data-request-id": d.requestId ?? "" }, h("span", { class: "muted" }, "Desired config "), d.version ? h("code", {}, d.version) : "", d.setBy ? h("span", { class: "muted" }, ` set by ${d.setBy}`) : "", d.setAt ? h("span", { class: "muted", title: fullTime(d.setAt) }, ` ${ago(d.setAt)}`) : "", " · set_config ", badge(d.state.replace("_", " "), kind, { id: "config-set-state" }), " ", h("span", { class: "delivery-detail" }, what));
}
/** parseConfig checks an edited config: JSON, an object, within the API's size. */
export function parseConfig(text) {
    let v;
    try {
        v = JSON.parse(text);
    }
    catch (err) {
        return { error: `not JSON: ${jsonErrorWhere(text, err instanceof Error ? err.message : String(err))}` };
    }
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
        return { error: `the config must be a JSON object ({…}), not ${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v}` };
    }
    const size = new TextEncoder().encode(JSON.stringify(v)).length;
    if (size > MAX_CONFIG_BYTES) {
        return { error: `the config is ${size} bytes; the API takes at most ${MAX_CONFIG_BYTES}` };
    }
    return { config: v, error: "" };
}
/** jsonErrorWhere adds the line and column to a JSON.parse message that gives only a position. */
function jsonErrorWhere(text, msg) {
    if (/line \d+ column \d+/.test(msg))
        return msg;
    const m = /position (\d+)/.exec(msg);
    if (!m)
        return msg;
    const before = text.slice(0, Number(m[1]));
    const line = before.split("\n").length;
    const col = before.length - before.lastIndexOf("\n");
    return `${msg} (line ${line} column ${col})`;
}
/** changedSecrets lists the secret keys given a value other than REDACTED (a new secret). */
function changedSecrets(v, prefix = "") {
    if (v === null || typeof v !== "object")
        return [];
    const out = [];
    for (const [k, inner] of Object.entries(v)) {
        const key = Array.isArray(v) ? `${prefix}[${k}]` : prefix ? `${prefix}.${k}` : k;
        if (!Array.isArray(v) && isSecretKey(k)) {
            if (inner !== REDACTED && inner !== null && inner !== "")
                out.push(key);
            continue;
        }
        out.push(...changedSecrets(inner, key));
    }
    return out;
}
/**
 * compare lists both configs' leaves, secrets masked (so a masked and an
 * unmasked copy of the same config agree), each with how it differs.
 */
function compare(reported, desired) {
    const r = flatten(maskSecrets(reported ?? null));
    const d = desired === undefined ? undefined : flatten(maskSecrets(desired ?? null));
    const keys = [...new Set([...r.keys(), ...(d ? d.keys() : [])])].sort();
    return keys.map((key) => {
        const rv = r.get(key);
        const dv = d?.get(key);
        const same = rv === dv && typeOf(reported, key) === typeOf(desired, key);
        const change = !d ? "same" : rv === undefined ? "added" : dv === undefined ? "removed" : same ? "same" : "changed";
        return { key, reported: rv, desired: dv, change };
    });
}
/** typeOf is the JSON type of the leaf at a dotted key ("" when absent). */
function typeOf(doc, key) {
    let v = doc;
    for (const part of key.split(".")) {
        if (v === null || typeof v !== "object" || Array.isArray(v))
            return "";
        v = v[part];
    }
    return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}
/**
 * flatten lists an object's leaves as dotted keys and display values:
 * strings as they are (so 30 and "30" differ only by type, which the
 * comparison keeps apart with a marker), other values as JSON; MASK and
 * REDACTED both show as MASK.
 */
function flatten(v, prefix = "", out = new Map()) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        const keys = Object.keys(v);
        if (keys.length === 0 && prefix)
            out.set(prefix, "{}");
        for (const k of keys)
            flatten(v[k], prefix ? `${prefix}.${k}` : k, out);
        return out;
    }
    if (v === null && !prefix)
        return out;
    const text = typeof v === "string" ? (v === REDACTED || v === MASK ? MASK : v) : JSON.stringify(v);
    out.set(prefix || "(value)", text);
    return out;
}
