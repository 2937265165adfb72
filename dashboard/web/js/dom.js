// DOM building and formatting helpers. Text always goes in as text nodes,
// never as HTML: log lines and config values come from terminals.
/** h creates an HTML element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
}
const SVG_NS = "http://www.w3.org/2000/svg";
/** s creates an SVG element. */
export function s(tag, attrs = {}, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
}
function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false)
            continue;
        if (typeof v === "function") {
            el.addEventListener(k.slice(2), v);
        }
        else {
            el.setAttribute(k, v === true ? "" : String(v));
        }
    }
}
function append(el, children) {
    for (const c of children) {
        if (c === null || c === undefined || c === false)
            continue;
        if (Array.isArray(c)) {
            append(el, c);
        }
        else if (c instanceof Node) {
            el.appendChild(c);
        }
        else {
            el.appendChild(document.createTextNode(String(c)));
        }
    }
}
/** replace swaps el's children for children. */
export function replace(el, ...children) {
    el.replaceChildren();
    append(el, children);
}
/** ago says how long before now t was, e.g. "12s ago"; "never" for no time. */
export function ago(t, now = Date.now()) {
    if (!t)
        return "never";
    const ms = now - Date.parse(t);
    if (!Number.isFinite(ms))
        return "—";
    const sec = Math.round(ms / 1000);
    if (sec < 0)
        return "just now";
    if (sec < 60)
        return `${sec}s ago`;
    if (sec < 3600)
        return `${Math.floor(sec / 60)}m ago`;
    if (sec < 86400)
        return `${Math.floor(sec / 3600)}h ago`;
    return `${Math.floor(sec / 86400)}d ago`;
}
/** clock formats a time as the local HH:MM:SS. */
export function clock(t) {
    if (!t)
        return "—";
    const d = new Date(t);
    if (Number.isNaN(d.getTime()))
        return "—";
    return d.toLocaleTimeString(undefined, { hour12: false });
}
/** fullTime formats a time for a tooltip. */
export function fullTime(t) {
    if (!t)
        return "";
    const d = new Date(t);
    return Number.isNaN(d.getTime()) ? t : d.toLocaleString();
}
/** percent formats a 0–100 number. */
export function percent(v) {
    return typeof v === "number" && Number.isFinite(v) ? `${v.toFixed(1)}%` : "—";
}
/** duration formats seconds as "3d 4h", "5h 2m", "4m 10s". */
export function duration(sec) {
    if (typeof sec !== "number" || !Number.isFinite(sec) || sec < 0)
        return "—";
    const d = Math.floor(sec / 86400);
    const hr = Math.floor((sec % 86400) / 3600);
    const m = Math.floor((sec % 3600) / 60);
    if (d > 0)
        return `${d}d ${hr}h`;
    if (hr > 0)
        return `${hr}h ${m}m`;
    return `${m}m ${Math.floor(sec % 60)}s`;
}
/** badge is a small coloured label; kind picks the colour (ok, bad, warn, muted, info). */
export function badge(text, kind, attrs = {}) {
    return h("span", { ...attrs, class: `badge badge-${kind}` }, text);
}
/**
 * freshUntilNote says until when synced data is promised current ("fresh
 * until 07:21:03"), or since when it is past that ("stale since …"), from
 * the API's freshUntil; id names the element.
 */
export function freshUntilNote(f, id) {
    if (!f.freshUntil)
        return "";
    const text = f.fresh ? ` · fresh until ${clock(f.freshUntil)}` : ` · stale since ${clock(f.freshUntil)}`;
    return h("span", { class: "muted", id, "data-fresh-until": f.freshUntil, title: `The API promises this is current until ${fullTime(f.freshUntil)}` }, text);
}
/** freshnessBadge shows whether synced data is fresh, stale, refreshing or never synced. */
export function freshnessBadge(f, what) {
    const state = !f.syncedAt ? "none" : f.fresh ? "fresh" : "stale";
    const text = state === "none" ? "not synced" : f.refreshing && state === "stale" ? "stale · refreshing" : state;
    const kind = state === "fresh" ? "ok" : state === "stale" ? "warn" : "muted";
    return badge(text, kind, { "data-fresh": state, title: f.syncedAt ? `${what} synced ${fullTime(f.syncedAt)}` : `${what} never synced` });
}
/**
 * copyButton copies text() to the clipboard when clicked and says so on the
 * button for a moment. Without the clipboard API (an insecure context) it
 * selects the text of select, if given, for the user to copy.
 */
export function copyButton(text, label, attrs = {}, select) {
    const b = h("button", { type: "button", class: "copy", ...attrs }, label);
    b.addEventListener("click", async () => {
        try {
            await navigator.clipboard.writeText(text());
            b.textContent = "Copied";
            b.dataset.copied = "true";
        }
        catch {
            if (select instanceof HTMLInputElement || select instanceof HTMLTextAreaElement) {
                select.focus();
                select.select();
            }
            else if (select) {
                getSelection()?.selectAllChildren(select);
            }
            b.textContent = "Press Ctrl+C to copy";
        }
        setTimeout(() => {
            b.textContent = label;
            delete b.dataset.copied;
        }, 2000);
    });
    return b;
}
/** hashParams reads the query part of the location hash, e.g. "#/audit?actor=ann". */
export function hashParams() {
    const i = location.hash.indexOf("?");
    return new URLSearchParams(i < 0 ? "" : location.hash.slice(i + 1));
}
/** setHashParams rewrites the query part of the location hash without adding a history entry or routing again. */
export function setHashParams(p) {
    const base = location.hash.split("?")[0] || "#/";
    const q = p.toString();
    history.replaceState(null, "", base + (q ? "?" + q : ""));
}
/**
 * confirmButton asks for a second click within 5 s before it runs act, so a
 * stray click does nothing; onError gets act's failure.
 */
export function confirmButton(label, confirmLabel, attrs, act, onError) {
    const b = h("button", { type: "button", ...attrs }, label);
    let armed;
    b.addEventListener("click", async () => {
        if (!armed) {
            b.textContent = confirmLabel;
            b.dataset.armed = "true";
            armed = setTimeout(() => {
                armed = undefined;
                b.textContent = label;
                delete b.dataset.armed;
            }, 5000);
            return;
        }
        clearTimeout(armed);
        armed = undefined;
        delete b.dataset.armed;
        b.disabled = true;
        try {
            await act();
        }
        catch (err) {
            onError(err);
        }
        finally {
            b.disabled = false;
            b.textContent = label;
        }
    });
    return b;
}
