// The fleet-wide log search: the lines of every terminal the user sees
// (one group, or all of theirs), newest first, each with its terminal,
// filtered by level, text and time by the API (GET /logs). Each request
// reads a bounded number of stored chunks, so a page may come back short
// with a cursor: "Older lines" follows it. The filters live in the address
// (#/logs?q=…&level=…).

import type { LogSearch, SearchLine } from "./client.js";
import type { App, View } from "./app.js";
import { h, replace, fullTime, hashParams, setHashParams } from "./dom.js";

const PAGE = 100;

/** AUTO_CONTINUE is how many requests one search or click makes at most while pages come back empty. */
const AUTO_CONTINUE = 10;

/** searchView is the search page. */
export function searchView(app: App, root: HTMLElement): View {
  const ctl = new AbortController();
  const p = hashParams();
  const groups = app.me?.groups ?? [];
  const group = h(
    "select",
    { id: "search-group", "aria-label": "Group" },
    h("option", { value: "" }, app.can("admin") ? "every terminal" : "all my groups"),
    groups.map((g) => h("option", { value: g }, g)),
  );
  group.value = p.get("group") ?? "";
  const level = h(
    "select",
    { id: "search-level", "aria-label": "Minimum level" },
    h("option", { value: "" }, "all levels"),
    ["debug", "info", "warn", "error"].map((l) => h("option", { value: l }, `${l} and above`)),
  );
  level.value = p.get("level") ?? "";
  const q = h("input", { id: "search-q", type: "search", placeholder: "Text in message or source", value: p.get("q") ?? "", autocomplete: "off", "aria-label": "Search text", size: 28 });
  const since = h("input", { id: "search-since", placeholder: "Since: 1h or 2026-01-02T15:04:05Z", value: p.get("since") ?? "1h", autocomplete: "off", "aria-label": "Since", size: 24 });
  const until = h("input", { id: "search-until", placeholder: "Until: time or duration ago", value: p.get("until") ?? "", autocomplete: "off", "aria-label": "Until", size: 20 });
  const go = h("button", { type: "submit", class: "primary", id: "search-go" }, "Search");
  const summary = h("p", { class: "summary", id: "search-summary" }, "Searching…");
  const rows = h("tbody", { id: "search-rows" });
  const more = h("button", { type: "button", id: "search-more", hidden: true }, "Older lines");
  const form = h("form", { class: "filters", id: "search-filters", role: "search" }, group, level, q, since, until, go);
  replace(
    root,
    h(
      "section",
      { class: "panel", id: "search-panel" },
      h("div", { class: "panel-head" }, h("h2", {}, "Search logs"), h("span", { class: "muted" }, "every terminal you see, newest first")),
      form,
      summary,
      h(
        "div",
        { class: "table-scroll" },
        h("table", { class: "search", id: "search" }, h("thead", {}, h("tr", {}, ["Time", "Terminal", "Level", "Source", "Message"].map((c) => h("th", { scope: "col" }, c)))), rows),
      ),
      more,
    ),
  );

  let cursor = "";
  let count = 0;
  let terminals = 0;
  let generation = 0;
  const query = (): LogSearch => {
    const s: LogSearch = { limit: PAGE };
    if (group.value) s.group = group.value;
    if (level.value) s.level = level.value;
    if (q.value.trim()) s.q = q.value.trim();
    if (since.value.trim()) s.since = since.value.trim();
    if (until.value.trim()) s.until = until.value.trim();
    return s;
  };
  const load = async (fresh: boolean) => {
    const gen = fresh ? ++generation : generation;
    const s = query();
    if (!fresh && cursor) s.cursor = cursor;
    more.disabled = true;
    try {
      // A page may come back empty with a cursor (the request's read
      // budget ran out before a match): go on by itself a few times.
      let page = await app.api.searchLogs(s, { signal: ctl.signal });
      for (let i = 1; i < AUTO_CONTINUE && page.lines.length === 0 && page.nextCursor && gen === generation; i++) {
        summary.textContent = `Searching further back (request ${i + 1})…`;
        page = await app.api.searchLogs({ ...s, cursor: page.nextCursor }, { signal: ctl.signal });
      }
      if (gen !== generation) return;
      app.clear("search");
      if (fresh) {
        replace(rows);
        count = 0;
      }
      rows.append(...page.lines.map(row));
      count += page.lines.length;
      terminals = page.terminals;
      cursor = page.nextCursor;
      more.hidden = !cursor;
      more.textContent = page.lines.length === 0 && cursor ? "Search further back" : "Older lines";
      const of = `from ${terminals} terminal${terminals === 1 ? "" : "s"}`;
      summary.textContent =
        count === 0
          ? cursor
            ? `No lines yet in what was read ${of}; older lines remain.`
            : `No lines match ${of}.`
          : `${count} line${count === 1 ? "" : "s"} ${of}${cursor ? "; older ones follow" : ""}.`;
    } catch (err) {
      if (gen !== generation) return;
      app.report("search", "Searching the logs failed", err);
      if (fresh) summary.textContent = "The search failed; see the error above.";
    } finally {
      more.disabled = false;
    }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query())) if (k !== "limit" && v) params.set(k, String(v));
    setHashParams(params);
    void load(true);
  });
  for (const el of [group, level]) el.addEventListener("change", () => form.requestSubmit());
  more.addEventListener("click", () => void load(false));
  void load(true);
  return { dispose: () => ctl.abort() };
}

function row(l: SearchLine): HTMLElement {
  const attrs = l.attrs ? Object.entries(l.attrs).map(([k, v]) => `${k}=${v}`).join(" ") : "";
  return h(
    "tr",
    { class: `level-${l.level}`, "data-terminal-id": l.terminalId, "data-seq": l.seq, "data-level": l.level },
    h("td", { class: "log-ts", title: fullTime(l.ts) }, h("time", { datetime: l.ts }, new Date(l.ts).toLocaleString())),
    h("td", {}, h("a", { href: `#/terminals/${encodeURIComponent(l.terminalId)}` }, l.terminalId)),
    h("td", { class: "log-level" }, l.level),
    h("td", { class: "log-source" }, l.source ?? ""),
    h("td", { class: "log-msg" }, l.msg, attrs ? h("span", { class: "log-attrs" }, ` ${attrs}`) : null),
  );
}
