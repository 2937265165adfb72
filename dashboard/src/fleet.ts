// The fleet, a page at a time: the API filters (id or name, group, online,
// stale data, agent version) and pages in id order, so the page never loads
// the whole fleet. Each row summarises the terminal's last status (CPU,
// memory, disk) and its dropped log lines. Sorting by another column sorts
// the page shown, and says so.

import type { ListTerminalsParams, Terminal } from "./client.js";
import type { App, View } from "./app.js";
import { h, replace, ago, fullTime, badge, freshnessBadge, percent, hashParams, setHashParams } from "./dom.js";

const REFRESH_MS = 5000;
const PAGE_SIZES = [25, 50, 100, 200];
const DEFAULT_PAGE_SIZE = 50;
/**
 * MAX_READS bounds the requests that fill one page: with filters the API
 * may answer short pages (it examines about 5 × limit terminals per
 * request), so the page follows nextCursor until it is full, up to this
 * many requests (a page of 50 then scans up to 5,000 terminals); past it,
 * Next continues the search. Only a search does so (opening the page, a
 * change of filters, Next, Previous, Refresh): the refresh every REFRESH_MS
 * makes one request, the first of the page, and refreshes the rows it
 * covers. A sparse filter's search of a page of 200 reads 20 × 5 × 200
 * terminals (3 read units each); repeated every 5 s in every open tab that
 * was 12,000 read units a second of a 100,000-terminal table (SCALE.md).
 */
const MAX_READS = 20;

/** Filters are the fleet page's filters as they appear in the address (#/?q=…). */
interface Filters {
  q: string;
  group: string;
  online: "" | "true" | "false";
  stale: "" | "true" | "false";
  agentVersion: string;
  size: number;
  sort: SortKey;
  desc: boolean;
}

type SortKey = "id" | "state" | "lastSeen" | "cpu" | "memory" | "disk" | "agent" | "dropped";

interface Column {
  label: string;
  sort?: SortKey;
  num?: boolean;
}

const COLUMNS: Column[] = [
  { label: "Terminal", sort: "id" },
  { label: "State", sort: "state" },
  { label: "Last seen", sort: "lastSeen" },
  { label: "CPU", sort: "cpu", num: true },
  { label: "Memory", sort: "memory", num: true },
  { label: "Disk", sort: "disk", num: true },
  { label: "Status" },
  { label: "Config" },
  { label: "Agent", sort: "agent" },
  { label: "Dropped", sort: "dropped", num: true },
];

function readFilters(): Filters {
  const p = hashParams();
  const tri = (v: string | null): "" | "true" | "false" => (v === "true" || v === "false" ? v : "");
  const size = Number(p.get("size"));
  const sort = (p.get("sort") ?? "id") as SortKey;
  return {
    q: p.get("q") ?? "",
    group: p.get("group") ?? "",
    online: tri(p.get("online")),
    stale: tri(p.get("stale")),
    agentVersion: p.get("agentVersion") ?? "",
    size: PAGE_SIZES.includes(size) ? size : DEFAULT_PAGE_SIZE,
    sort: COLUMNS.some((c) => c.sort === sort) ? sort : "id",
    desc: p.get("desc") === "true",
  };
}

function writeFilters(f: Filters): void {
  const p = new URLSearchParams();
  if (f.q) p.set("q", f.q);
  if (f.group) p.set("group", f.group);
  if (f.online) p.set("online", f.online);
  if (f.stale) p.set("stale", f.stale);
  if (f.agentVersion) p.set("agentVersion", f.agentVersion);
  if (f.size !== DEFAULT_PAGE_SIZE) p.set("size", String(f.size));
  if (f.sort !== "id") p.set("sort", f.sort);
  if (f.desc) p.set("desc", "true");
  setHashParams(p);
}

/** fleetView mounts the fleet table into root. */
export function fleetView(app: App, root: HTMLElement): View {
  const ctl = new AbortController();
  const signal = ctl.signal;
  let f = readFilters();

  const search = h("input", { id: "fleet-q", type: "search", placeholder: "Id or name contains…", "aria-label": "Search by id or name", value: f.q, autocomplete: "off" });
  const group = h("input", { id: "fleet-group", type: "text", placeholder: "Group", "aria-label": "Group", value: f.group, size: 12, autocomplete: "off" });
  const online = select("fleet-online", "Connection", [["", "online or not"], ["true", "online"], ["false", "offline"]], f.online);
  const stale = select("fleet-stale", "Data", [["", "fresh or stale"], ["true", "with stale data"], ["false", "fresh data"]], f.stale);
  const agentVersion = h("input", { id: "fleet-agent", type: "text", placeholder: "Agent version", "aria-label": "Agent version", value: f.agentVersion, size: 12, autocomplete: "off" });
  const size = select("fleet-size", "Page size", PAGE_SIZES.map((n) => [String(n), `${n} per page`]), String(f.size));
  const clear = h("button", { type: "button", id: "fleet-clear" }, "Clear filters");
  const summary = h("p", { class: "summary", id: "fleet-summary", "aria-live": "polite" }, "Loading terminals…");
  const sortNote = h("p", { class: "muted sort-note", id: "fleet-sort-note" });
  const head = h("tr", {});
  const body = h("tbody", { id: "fleet-rows" });
  const table = h("table", { class: "fleet", id: "fleet" }, h("thead", {}, head), body);
  const prev = h("button", { type: "button", id: "fleet-prev" }, "← Previous");
  const next = h("button", { type: "button", id: "fleet-next" }, "Next →");
  const position = h("span", { class: "muted", id: "fleet-position" });
  const refresh = h("button", { type: "button", id: "fleet-refresh" }, "Refresh");
  const register = app.can("admin") ? h("a", { href: "#/register", class: "button", id: "fleet-register" }, "Register terminal") : null;

  replace(
    root,
    h(
      "section",
      { class: "panel" },
      h("div", { class: "panel-head" }, h("h2", {}, "Fleet"), h("div", { class: "actions" }, register, refresh)),
      h("form", { class: "filters", id: "fleet-filters", role: "search", onsubmit: (ev: Event) => ev.preventDefault() }, search, group, online, stale, agentVersion, size, clear),
      summary,
      sortNote,
      h("div", { class: "table-scroll" }, table),
      h("div", { class: "pager" }, prev, position, next),
    ),
  );

  // Paging: starts[i] is the cursor page i+1 starts at ("" for the first).
  let starts: string[] = [""];
  let nextCursor = "";
  let rows: Terminal[] = [];
  let scanned = { reads: 0, full: true };
  let generation = 0;
  let loaded = false;
  // searched: the page's search is done; a refresh then reads one request.
  let searched = false;

  const renderHead = () => {
    replace(
      head,
      COLUMNS.map((c) => {
        const active = f.sort === c.sort;
        const arrow = active ? (f.desc ? " ↓" : " ↑") : "";
        const attrs = { scope: "col", class: c.num ? "num" : "", "aria-sort": active ? (f.desc ? "descending" : "ascending") : null };
        if (!c.sort) return h("th", attrs, c.label);
        const b = h("button", { type: "button", class: "sort", "data-sort": c.sort }, c.label + arrow);
        b.addEventListener("click", () => {
          if (f.sort === c.sort) f.desc = !f.desc;
          else {
            f.sort = c.sort as SortKey;
            f.desc = false;
          }
          writeFilters(f);
          render();
        });
        return h("th", attrs, b);
      }),
    );
  };

  const render = () => {
    renderHead();
    const now = Date.now();
    const shown = sortRows(rows, f);
    const on = rows.filter((t) => t.online).length;
    const staleCount = rows.filter((t) => t.status.stale || t.config.stale).length;
    const page = starts.length;
    const filtered = f.q || f.group || f.online || f.stale || f.agentVersion;
    replace(
      summary,
      `Page ${page} · ${rows.length} terminal${rows.length === 1 ? "" : "s"}${filtered ? " matching the filters" : ""} · `,
      h("span", { class: "count-online" }, `${on} online`),
      " · ",
      h("span", { class: "count-offline" }, `${rows.length - on} offline`),
      " · ",
      `${staleCount} with stale data`,
      !scanned.full && nextCursor ? h("span", { class: "muted", id: "fleet-partial" }, " · more may match further on: Next continues the search") : "",
      scanned.reads > 1 ? h("span", { class: "muted", id: "fleet-refresh-note" }, ` · found in ${scanned.reads} requests; refreshed every ${REFRESH_MS / 1000} s from the first only: Refresh searches again`) : "",
    );
    sortNote.textContent =
      f.sort === "id"
        ? f.desc
          ? "Sorted by id, descending, within this page: the API pages in ascending id order."
          : "In id order, as the API pages."
        : `Sorted by ${COLUMNS.find((c) => c.sort === f.sort)?.label.toLowerCase()}${f.desc ? ", descending," : ""} within this page only: the API pages in id order.`;
    prev.disabled = starts.length <= 1;
    next.disabled = !nextCursor;
    position.textContent = `page ${page}`;
    if (rows.length === 0) {
      replace(
        body,
        h("tr", {}, h("td", { colspan: COLUMNS.length, class: "empty" }, filtered ? (nextCursor ? "No matches on this page; Next searches further." : "No terminal matches the filters.") : "No terminals registered yet.")),
      );
      return;
    }
    replace(body, shown.map((t) => row(t, now)));
  };

  /**
   * load reads the page that starts at starts[last]: its search follows
   * short pages up to MAX_READS requests; once searched, a load makes the
   * page's first request only (refresh). It returns true when the filters
   * or the page changed meanwhile: its answer is dropped and the next load
   * is due at once.
   */
  const load = async (): Promise<boolean> => {
    const gen = generation;
    if (searched) return refreshFirst(gen);
    const params = listParams();
    const got: Terminal[] = [];
    let cursor = starts[starts.length - 1];
    let reads = 0;
    do {
      const want = f.size - got.length;
      const page = await app.api.listTerminals({ ...params, limit: want, ...(cursor ? { cursor } : {}) }, { signal });
      if (gen !== generation) return true;
      got.push(...page.terminals);
      cursor = page.nextCursor;
      reads++;
    } while (cursor && got.length < f.size && reads < MAX_READS);
    rows = got;
    nextCursor = cursor;
    scanned = { reads, full: got.length >= f.size || !cursor };
    loaded = true;
    searched = true;
    render();
    return false;
  };

  /** listParams are the filters as the API's query. */
  const listParams = (): ListTerminalsParams => {
    const params: ListTerminalsParams = { limit: f.size };
    if (f.q) params.q = f.q;
    if (f.group) params.group = f.group;
    if (f.online) params.online = f.online === "true";
    if (f.stale) params.stale = f.stale === "true";
    if (f.agentVersion) params.agentVersion = f.agentVersion;
    return params;
  };

  /**
   * refreshFirst makes the page's first request again. When the search
   * needed no more (one request, a full page, or the end of the fleet) its
   * answer is the page. Otherwise it covers the page's first terminals in
   * id order (the API examines them in that order): the rows up to its
   * last terminal are replaced by its answer (new matches appear, those
   * that no longer match go), the rows after it stay as the search found
   * them, and so does the cursor Next continues from.
   */
  const refreshFirst = async (gen: number): Promise<boolean> => {
    const start = starts[starts.length - 1];
    const page = await app.api.listTerminals({ ...listParams(), ...(start ? { cursor: start } : {}) }, { signal });
    if (gen !== generation) return true;
    if (scanned.reads <= 1 || page.terminals.length >= f.size || !page.nextCursor) {
      rows = page.terminals;
      nextCursor = page.nextCursor ?? "";
      scanned = { reads: 1, full: rows.length >= f.size || !nextCursor };
    } else if (page.terminals.length > 0) {
      const last = page.terminals[page.terminals.length - 1].id;
      rows = [...page.terminals, ...rows.filter((t) => t.id > last)];
    }
    render();
    return false;
  };

  const onFail = (err: unknown) => {
    app.report("fleet", "Loading the terminals failed", err);
    if (!loaded) {
      replace(summary, "Could not load the terminals; see the error above.");
      replace(body, h("tr", {}, h("td", { colspan: COLUMNS.length, class: "empty" }, "—")));
    }
  };

  let kick = () => {};
  const reload = () => {
    generation++;
    searched = false;
    kick();
  };
  const restart = () => {
    f = {
      ...f,
      q: search.value.trim(),
      group: group.value.trim(),
      online: online.value as Filters["online"],
      stale: stale.value as Filters["stale"],
      agentVersion: agentVersion.value.trim(),
      size: Number(size.value) || DEFAULT_PAGE_SIZE,
    };
    writeFilters(f);
    starts = [""];
    nextCursor = "";
    reload();
  };

  let debounce: ReturnType<typeof setTimeout> | undefined;
  for (const input of [search, group, agentVersion]) {
    input.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(restart, 300);
    });
    input.addEventListener("keydown", (ev) => {
      if ((ev as KeyboardEvent).key === "Enter") {
        clearTimeout(debounce);
        restart();
      }
    });
  }
  for (const s of [online, stale, size]) s.addEventListener("change", restart);
  clear.addEventListener("click", () => {
    search.value = group.value = agentVersion.value = "";
    online.value = stale.value = "";
    restart();
  });
  next.addEventListener("click", () => {
    if (!nextCursor) return;
    starts.push(nextCursor);
    reload();
  });
  prev.addEventListener("click", () => {
    if (starts.length <= 1) return;
    starts.pop();
    reload();
  });
  refresh.addEventListener("click", () => {
    searched = false;
    load().then(() => app.clear("fleet"), onFail);
  });
  signal.addEventListener("abort", () => clearTimeout(debounce));

  renderHead();
  kick = pollFleet(app, signal, load, onFail);
  return { dispose: () => ctl.abort() };
}

/** pollFleet runs load every REFRESH_MS (at once when it says so); a failure is reported through onFail. */
function pollFleet(app: App, signal: AbortSignal, load: () => Promise<boolean>, onFail: (err: unknown) => void): () => void {
  return app.poll("fleet-poll", "Loading the terminals failed", REFRESH_MS, signal, async () => {
    try {
      const again = await load();
      app.clear("fleet");
      return again;
    } catch (err) {
      if (signal.aborted) return false;
      onFail(err);
      return false;
    }
  });
}

function row(t: Terminal, now: number): HTMLElement {
  const s = t.summary;
  const dropped = s?.dropped ?? t.dropped;
  return h(
    "tr",
    { "data-terminal-id": t.id, "data-online": String(t.online) },
    h(
      "td",
      {},
      h("a", { href: `#/terminals/${encodeURIComponent(t.id)}`, class: "terminal-link" }, t.id),
      t.name && t.name !== t.id ? h("span", { class: "muted terminal-name" }, ` ${t.name}`) : null,
      t.groups?.length ? h("span", { class: "groups" }, t.groups.map((g) => h("span", { class: "group" }, g))) : null,
    ),
    h("td", {}, stateBadge(t)),
    h("td", { title: fullTime(t.lastSeen) }, ago(t.lastSeen, now)),
    h("td", { class: "num", "data-metric": "cpu" }, meter(s?.cpu)),
    h("td", { class: "num", "data-metric": "memory" }, meter(s?.memory)),
    h("td", { class: "num", "data-metric": "disk" }, meter(s?.disk)),
    h("td", {}, freshnessBadge(t.status, "status")),
    h("td", {}, freshnessBadge(t.config, "config")),
    h("td", { "data-metric": "agent" }, t.agentVersion ?? "—"),
    h("td", { class: dropped > 0 ? "num warn-text" : "num", "data-metric": "dropped" }, String(dropped)),
  );
}

/** meter shows a percentage with a small bar; high use is marked. */
function meter(v: number | undefined): HTMLElement | string {
  if (typeof v !== "number" || !Number.isFinite(v)) return "—";
  const level = v >= 90 ? "bad" : v >= 75 ? "warn" : "ok";
  const bar = h("span", { class: "meter-bar" });
  // Through the CSSOM: the page's CSP allows no inline style attributes.
  bar.style.width = `${Math.max(0, Math.min(100, v))}%`;
  return h("span", { class: `meter meter-${level}` }, h("span", { class: "meter-track" }, bar), h("span", { class: "meter-text" }, percent(v)));
}

function sortRows(rows: Terminal[], f: Filters): Terminal[] {
  const key = (t: Terminal): number | string => {
    switch (f.sort) {
      case "state":
        return t.online ? 0 : t.inactive ? 1 : 2;
      case "lastSeen":
        return t.lastSeen ? Date.parse(t.lastSeen) : 0;
      case "cpu":
        return t.summary?.cpu ?? -1;
      case "memory":
        return t.summary?.memory ?? -1;
      case "disk":
        return t.summary?.disk ?? -1;
      case "agent":
        return t.agentVersion ?? "";
      case "dropped":
        return t.summary?.dropped ?? t.dropped;
      default:
        return t.id;
    }
  };
  const out = [...rows];
  out.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    const c = typeof ka === "number" && typeof kb === "number" ? ka - kb : String(ka).localeCompare(String(kb));
    return (f.desc ? -c : c) || a.id.localeCompare(b.id);
  });
  return out;
}

function select(id: string, label: string, options: string[][], value: string): HTMLSelectElement {
  const s = h("select", { id, "aria-label": label }, options.map(([v, text]) => h("option", { value: v }, text)));
  s.value = value;
  return s;
}

/** stateBadge says whether a terminal is online, offline or quiet. */
export function stateBadge(t: Terminal): HTMLElement {
  if (t.online) return badge("online", "ok", { "data-state": "online" });
  if (t.inactive) return badge("inactive", "warn", { "data-state": "inactive", title: "connected but not heard from recently" });
  if (!t.connectedAt && !t.lastSeen) return badge("never connected", "muted", { "data-state": "never", title: "registered; its agent has not connected yet" });
  return badge("offline", "bad", { "data-state": "offline", title: t.disconnectReason ? `disconnected: ${t.disconnectReason}` : "" });
}
