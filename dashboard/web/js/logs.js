// The live-tailing log viewer: the newest lines, then every new line as it
// is stored (a read with since=<last seq> every second), filtered by
// minimum level and a search text that the API applies (q).
import { h, replace, fullTime } from "./dom.js";
const TAIL_MS = 1000;
const FIRST_PAGE = 200;
const TAIL_PAGE = 500;
const MAX_LINES = 2000;
/**
 * logViewer builds the viewer for terminal id; it polls until signal
 * aborts. terminal returns the terminal as last read, to say whether new
 * lines can arrive: "live" only while it is connected.
 */
export function logViewer(app, id, signal, terminal = () => undefined) {
    const level = h("select", { id: "log-level", "aria-label": "Minimum level" }, h("option", { value: "" }, "all levels"), ["debug", "info", "warn", "error"].map((l) => h("option", { value: l }, `${l} and above`)));
    const search = h("input", { id: "log-search", type: "search", placeholder: "Search messages and sources", "aria-label": "Search logs", autocomplete: "off" });
    const pause = h("button", { type: "button", id: "log-pause", "aria-pressed": "false" }, "Pause");
    const stats = h("span", { class: "muted", id: "log-stats" });
    const list = h("div", { class: "log-lines", id: "log-lines", role: "log", "aria-live": "off", tabindex: 0 });
    let generation = 0; // a change of filter starts a new generation; older reads are dropped
    let after = -1; // tail after this seq; -1 until the first page came
    let paused = false;
    let shown = 0;
    let lastPage;
    const renderStats = () => {
        if (!lastPage)
            return;
        replace(stats, `${shown} line${shown === 1 ? "" : "s"} shown · last seq ${lastPage.lastSeq}`, lastPage.dropped > 0 ? h("span", { class: "warn-text" }, ` · ${lastPage.dropped} dropped by the terminal`) : "", h("span", { id: "log-mode", "data-mode": mode() }, modeText[mode()]));
    };
    /** mode says whether new lines can show up now. */
    const mode = () => {
        if (paused)
            return "paused";
        const t = terminal();
        const online = t ? t.online : lastPage?.online;
        if (online)
            return "live";
        if (t && !t.connectedAt && !t.lastSeen && !t.disconnectedAt)
            return "never";
        return "offline";
    };
    const modeText = {
        paused: " · paused",
        live: " · live",
        offline: " · offline: new lines appear when it reconnects",
        never: " · never connected: no lines until its agent connects",
    };
    const add = (entries) => {
        if (entries.length === 0)
            return;
        const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
        const empty = list.querySelector(".empty");
        if (empty)
            empty.remove();
        const frag = document.createDocumentFragment();
        for (const e of entries)
            frag.appendChild(line(e));
        list.appendChild(frag);
        shown += entries.length;
        while (shown > MAX_LINES && list.firstElementChild) {
            list.firstElementChild.remove();
            shown--;
        }
        if (atBottom)
            list.scrollTop = list.scrollHeight;
    };
    const filters = () => ({ level: level.value || undefined, q: search.value.trim() || undefined });
    const step = async () => {
        if (paused)
            return false;
        const gen = generation;
        const f = filters();
        if (after < 0) {
            const page = await app.api.getTerminalLogs(id, { count: FIRST_PAGE, ...f }, { signal });
            if (gen !== generation)
                return true;
            lastPage = page;
            replace(list);
            if (page.entries.length === 0) {
                list.appendChild(h("div", { class: "empty" }, f.level || f.q ? "No lines match." : "No log lines yet."));
            }
            add(page.entries);
            const newest = page.entries.length ? page.entries[page.entries.length - 1].seq : 0;
            after = Math.max(page.lastSeq, newest);
            list.scrollTop = list.scrollHeight;
            renderStats();
            return false;
        }
        const page = await app.api.getTerminalLogs(id, { since: after, count: TAIL_PAGE, ...f }, { signal });
        if (gen !== generation)
            return true;
        lastPage = page;
        add(page.entries.filter((e) => e.seq > after));
        const newest = page.entries.length ? page.entries[page.entries.length - 1].seq : after;
        after = Math.max(after, newest, cursorSeq(page.nextCursor));
        renderStats();
        return page.entries.length >= TAIL_PAGE;
    };
    let kick = () => { };
    const restart = () => {
        generation++;
        after = -1;
        shown = 0;
        replace(list, h("div", { class: "empty" }, "Loading…"));
        kick();
    };
    level.addEventListener("change", restart);
    let debounce;
    search.addEventListener("input", () => {
        clearTimeout(debounce);
        debounce = setTimeout(restart, 300);
    });
    search.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") {
            clearTimeout(debounce);
            restart();
        }
    });
    pause.addEventListener("click", () => {
        paused = !paused;
        if (!paused)
            kick();
        pause.textContent = paused ? "Resume" : "Pause";
        pause.setAttribute("aria-pressed", String(paused));
        renderStats();
    });
    signal.addEventListener("abort", () => clearTimeout(debounce));
    restart();
    kick = app.poll("logs", "Reading the logs failed", TAIL_MS, signal, step);
    return h("section", { class: "panel", id: "logs-panel" }, h("div", { class: "panel-head" }, h("h3", {}, "Logs"), h("div", { class: "controls" }, level, search, pause)), stats, list);
}
function line(e) {
    const attrs = e.attrs ? Object.entries(e.attrs).map(([k, v]) => `${k}=${v}`).join(" ") : "";
    return h("div", { class: `log-line level-${e.level}`, "data-seq": e.seq, "data-level": e.level }, h("span", { class: "log-seq" }, String(e.seq)), h("time", { class: "log-ts", datetime: e.ts, title: fullTime(e.ts) }, shortTime(e.ts)), h("span", { class: "log-level" }, e.level), e.source ? h("span", { class: "log-source" }, e.source) : null, h("span", { class: "log-msg" }, e.msg), attrs ? h("span", { class: "log-attrs" }, attrs) : null);
}
function shortTime(ts) {
    const d = new Date(ts);
    if (Number.isNaN(d.getTime()))
        return ts;
    const p = (n, w = 2) => String(n).padStart(w, "0");
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
function cursorSeq(cursor) {
    const m = /^after:(\d+)$/.exec(cursor ?? "");
    return m ? Number(m[1]) : -1;
}
