// Group config rollouts: a group's rollouts and a form to start one
// (#/rollouts?group=…), and one rollout (#/rollouts/<group>/<id>) whose
// waves fill as the terminals answer, with pause, resume, cancel and
// rollback. The server stages, counts and decides; the page shows what it
// answers and polls while the rollout moves.

import type { Rollout, RolloutSpec, RolloutState, RolloutTarget, RolloutWave, TargetState, WaveCounts } from "./client.js";
import type { App, View } from "./app.js";
import { h, replace, ago, fullTime, badge, hashParams, setHashParams, confirmButton } from "./dom.js";

const ACTIVE_MS = 1500;
const IDLE_MS = 10_000;

const STATE_KIND: Record<RolloutState, string> = {
  running: "info",
  paused: "warn",
  completed: "ok",
  aborted: "bad",
  cancelled: "muted",
  rolling_back: "warn",
  rolled_back: "muted",
};

/** stateBadge shows a rollout's state. */
function stateBadge(s: RolloutState, attrs: Record<string, string> = {}): HTMLElement {
  return badge(s.replace("_", " "), STATE_KIND[s] ?? "muted", { "data-state": s, ...attrs });
}

const TARGET_KIND: Record<TargetState, string> = {
  pending: "info",
  succeeded: "ok",
  failed: "bad",
  timed_out: "bad",
  offline: "muted",
  skipped: "muted",
};

function targetBadge(s: TargetState | undefined, attrs: Record<string, string> = {}): HTMLElement | string {
  if (!s) return "—";
  return badge(s.replace("_", " "), TARGET_KIND[s] ?? "muted", { "data-target-state": s, ...attrs });
}

/** done is the number of terminals with an outcome. */
function done(c: WaveCounts): number {
  return c.succeeded + c.failed + c.timedOut + c.offline + c.skipped;
}

/** rolloutHref is the address of one rollout. */
function rolloutHref(group: string, id: string): string {
  return `#/rollouts/${encodeURIComponent(group)}/${encodeURIComponent(id)}`;
}

/** rolloutsView lists a group's rollouts and, for operators, starts one. */
export function rolloutsView(app: App, root: HTMLElement): View {
  const ctl = new AbortController();
  const signal = ctl.signal;
  const initial = hashParams().get("group") ?? app.me?.groups?.[0] ?? "";
  const group = h("input", { id: "rollout-group", type: "text", placeholder: "Group", "aria-label": "Group", value: initial, size: 16, autocomplete: "off" });
  const list = h("tbody", { id: "rollout-rows" });
  const summary = h("p", { class: "summary", id: "rollout-summary", "aria-live": "polite" }, initial ? "Loading rollouts…" : "Choose a group.");

  const mode = h(
    "select",
    { id: "rollout-mode", "aria-label": "Kind of change" },
    h("option", { value: "patch" }, "merge patch (change some keys)"),
    h("option", { value: "config" }, "whole config"),
  );
  const doc = h("textarea", { id: "rollout-doc", rows: 5, cols: 60, spellcheck: "false", "aria-label": "Patch or config (JSON)" }, '{"log_level": "debug"}');
  const waveSize = h("input", { id: "rollout-wave-size", type: "number", min: 1, max: 1000, placeholder: "all", size: 6, "aria-label": "Terminals per wave" });
  const wavePercent = h("input", { id: "rollout-wave-percent", type: "number", min: 1, max: 100, placeholder: "—", size: 5, "aria-label": "Percent per wave" });
  const interval = h("input", { id: "rollout-interval", type: "number", min: 0, max: 86400, value: 0, size: 6, "aria-label": "Seconds between waves" });
  const abortAbove = h("input", { id: "rollout-abort", type: "number", min: 0, max: 100, value: 10, size: 5, "aria-label": "Abort above percent failed" });
  const override = h("input", { id: "rollout-override", type: "checkbox" });
  const start = h("button", { type: "submit", id: "rollout-start", class: "primary" }, "Start rollout");
  const form = app.can("operator")
    ? h(
        "form",
        { id: "rollout-form", class: "rollout-form" },
        h("label", {}, "Change ", mode),
        doc,
        h(
          "div",
          { class: "filters" },
          h("label", {}, "Wave size ", waveSize),
          h("label", {}, "or % per wave ", wavePercent),
          h("label", {}, "pause between waves (s) ", interval),
          h("label", {}, "abort when more than ", abortAbove, " % of a wave fail"),
          h("label", {}, override, " include terminals with their own config"),
        ),
        h("p", { class: "muted" }, "Terminals with their own desired config are skipped unless included; connection settings and log inputs need an admin."),
        start,
      )
    : h("p", { class: "muted", id: "rollout-needs" }, app.needs("operator", "Starting a rollout"));

  replace(
    root,
    h(
      "section",
      { class: "panel" },
      h("div", { class: "panel-head" }, h("h2", {}, "Rollouts"), h("form", { class: "filters", onsubmit: (ev: Event) => ev.preventDefault() }, group)),
      summary,
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { id: "rollouts" },
          h("thead", {}, h("tr", {}, ["Rollout", "State", "Progress", "Waves", "Change", "Started", "By"].map((c) => h("th", { scope: "col" }, c)))),
          list,
        ),
      ),
    ),
    h("section", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", {}, "New rollout")), form),
  );

  const current = () => group.value.trim();
  let generation = 0;
  const load = async () => {
    const g = current();
    const mine = ++generation;
    if (!g) {
      replace(list);
      summary.textContent = "Choose a group.";
      return;
    }
    const page = await app.api.listRollouts(g, { limit: 50 }, { signal });
    if (mine !== generation) return;
    summary.textContent = page.rollouts.length === 0 ? `No rollouts in ${g} yet.` : `${page.rollouts.length} rollouts in ${g}, newest first.`;
    replace(
      list,
      page.rollouts.map((r) =>
        h(
          "tr",
          { "data-rollout-id": r.id },
          h("td", {}, h("a", { href: rolloutHref(r.group, r.id), class: "rollout-link mono" }, r.id)),
          h("td", {}, stateBadge(r.state)),
          h("td", {}, `${done(r.counts)} of ${r.total}`),
          h("td", {}, `${Math.min(r.wave + 1, r.waves)} of ${r.waves}`),
          h("td", { class: "mono" }, changeText(r)),
          h("td", { title: fullTime(r.createdAt) }, ago(r.createdAt)),
          h("td", {}, r.createdBy),
        ),
      ),
    );
  };
  const kick = app.poll("rollouts", "Loading rollouts failed", IDLE_MS, signal, load);
  group.addEventListener("change", () => {
    const p = new URLSearchParams();
    if (current()) p.set("group", current());
    setHashParams(p);
    kick();
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const g = current();
    if (!g) {
      app.report("rollout-start", "Starting the rollout failed", new Error("choose a group first"));
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(doc.value);
    } catch (err) {
      app.report("rollout-start", "Starting the rollout failed", new Error(`the ${mode.value} is not JSON: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      app.report("rollout-start", "Starting the rollout failed", new Error(`the ${mode.value} must be a JSON object`));
      return;
    }
    const spec: RolloutSpec = mode.value === "config" ? { config: parsed as Record<string, unknown> } : { patch: parsed as Record<string, unknown> };
    if (waveSize.value) spec.waveSize = Number(waveSize.value);
    if (wavePercent.value) spec.wavePercent = Number(wavePercent.value);
    if (interval.value) spec.waveIntervalSeconds = Number(interval.value);
    if (abortAbove.value !== "") spec.abortAbove = Number(abortAbove.value) / 100;
    if (override.checked) spec.overrideTerminalConfig = true;
    start.disabled = true;
    try {
      const r = await app.api.startRollout(g, spec, { signal });
      app.clear("rollout-start");
      location.hash = rolloutHref(r.group, r.id);
    } catch (err) {
      app.report("rollout-start", "Starting the rollout failed", err);
    } finally {
      start.disabled = false;
    }
  });

  return { dispose: () => ctl.abort() };
}

function changeText(r: Rollout): string {
  const doc = r.patch ?? r.config ?? {};
  const text = JSON.stringify(doc);
  return (r.patch ? "patch " : "config ") + (text.length > 60 ? text.slice(0, 57) + "…" : text);
}

/** rolloutView shows one rollout: its state, its waves filling, and its controls. */
export function rolloutView(app: App, root: HTMLElement, group: string, id: string): View {
  const ctl = new AbortController();
  const signal = ctl.signal;
  const state = h("span", { id: "rollout-state" });
  const progress = h("p", { class: "summary", id: "rollout-progress", "aria-live": "polite" }, "Loading…");
  const reason = h("p", { class: "warn-text", id: "rollout-reason", hidden: true });
  const facts = h("p", { class: "muted", id: "rollout-facts" });
  const waves = h("ol", { class: "waves", id: "rollout-waves" });
  const detail = h("div", { id: "rollout-wave-detail" });
  let selected = -1;
  let rollout: Rollout | undefined;

  const act = (action: "pause" | "resume" | "cancel" | "rollback") => async () => {
    rollout = await app.api.controlRollout(group, id, action, { signal });
    app.clear("rollout-control");
    render();
    kick();
  };
  const onError = (err: unknown) => app.report("rollout-control", "The rollout did not change", err);
  const pause = plainButton("Pause", { id: "rollout-pause" }, act("pause"), onError);
  const resume = plainButton("Resume", { id: "rollout-resume" }, act("resume"), onError);
  const cancel = confirmButton("Cancel", "Confirm: cancel", { id: "rollout-cancel", class: "danger" }, act("cancel"), onError);
  const rollback = confirmButton("Roll back", "Confirm: roll back", { id: "rollout-rollback", class: "danger" }, act("rollback"), onError);
  const controls = app.can("operator") ? h("div", { class: "actions", id: "rollout-controls" }, pause, resume, cancel, rollback) : null;

  replace(
    root,
    h(
      "section",
      { class: "panel" },
      h(
        "div",
        { class: "panel-head" },
        h("h2", {}, h("a", { href: `#/rollouts?group=${encodeURIComponent(group)}` }, "Rollouts"), ` · ${group} · `, h("span", { class: "mono" }, id), " ", state),
        controls,
      ),
      progress,
      reason,
      facts,
      waves,
      h("p", { class: "muted legend" }, legend()),
    ),
    h("section", { class: "panel" }, detail),
  );

  const render = () => {
    const r = rollout;
    if (!r) return;
    replace(state, stateBadge(r.state));
    const finished = (r.waveList ?? []).filter((w) => w.outcome).length;
    progress.textContent =
      `${done(r.counts)} of ${r.total} terminals done · ${r.counts.succeeded} succeeded, ${r.counts.failed} failed, ${r.counts.timedOut} timed out, ` +
      `${r.counts.offline} offline (${r.counts.caughtUp} caught up since), ${r.counts.skipped} skipped · ${finished} of ${r.waves} waves over` +
      (r.state === "rolling_back" || r.state === "rolled_back" ? ` · rolled back: ${r.counts.rolledBack} terminals, waves ${r.rolledBackWaves ?? 0} of ${r.rollbackWaves ?? 0}` : "");
    reason.hidden = !r.reason;
    reason.textContent = r.reason ?? "";
    const next = r.state === "running" && r.phase === "due" && r.nextWaveAt ? ` · next wave ${new Date(r.nextWaveAt).toLocaleTimeString()}` : "";
    facts.textContent =
      `${changeText(r)} · waves of ${r.waveSize}, ${r.waveIntervalSeconds} s apart · abort above ${Math.round(r.abortAbove * 100)}% failed` +
      `${r.overrideTerminalConfig ? " · includes terminals with their own config" : ""} · started ${ago(r.createdAt)} by ${r.createdBy}${next}`;
    pause.disabled = r.state !== "running";
    resume.disabled = r.state !== "paused";
    cancel.disabled = r.state !== "running" && r.state !== "paused";
    rollback.disabled = r.state === "rolling_back" || r.state === "rolled_back";
    replace(
      waves,
      (r.waveList ?? []).map((w) => waveRow(r, w, w.index === selected, () => select(w.index))),
    );
  };

  const select = (index: number) => {
    selected = index;
    render();
    kickDetail();
  };

  const load = async () => {
    rollout = await app.api.getRollout(group, id, { signal });
    render();
  };
  const active = () => !rollout || rollout.state === "running" || rollout.state === "paused" || rollout.state === "rolling_back";
  let kick: () => void = () => {};
  // Fast while the rollout moves, slow once it rests.
  const loop = async () => {
    while (!signal.aborted) {
      try {
        await load();
        app.clear("rollout");
      } catch (err) {
        if (signal.aborted) return;
        app.report("rollout", "Loading the rollout failed", err);
      }
      const cut = new AbortController();
      kick = () => cut.abort();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, active() ? ACTIVE_MS : IDLE_MS);
        const stop = () => {
          clearTimeout(t);
          resolve();
        };
        signal.addEventListener("abort", stop, { once: true });
        cut.signal.addEventListener("abort", stop, { once: true });
      });
    }
  };
  void loop();

  const kickDetail = app.poll("rollout-wave", "Loading the wave failed", ACTIVE_MS * 2, signal, async () => {
    if (selected < 0) {
      replace(detail, h("p", { class: "empty" }, "Choose a wave to see its terminals."));
      return;
    }
    const w = await app.api.getRolloutWave(group, id, selected, { signal });
    replace(detail, waveDetail(w));
  });

  return { dispose: () => ctl.abort() };
}

const SEGMENTS: Array<[keyof WaveCounts, string]> = [
  ["succeeded", "ok"],
  ["failed", "bad"],
  ["timedOut", "timeout"],
  ["offline", "offline"],
  ["skipped", "skipped"],
];

function legend(): HTMLElement[] {
  return SEGMENTS.map(([k, cls]) => h("span", { class: "legend-item" }, h("span", { class: `seg seg-${cls}` }), k === "timedOut" ? "timed out" : k));
}

/** waveRow is one wave as a bar that fills with its terminals' outcomes. */
function waveRow(r: Rollout, w: RolloutWave, selected: boolean, onSelect: () => void): HTMLElement {
  const status = w.outcome ?? (w.index < r.wave || (w.index === r.wave && r.phase !== "due") ? (r.phase === "sending" && w.index === r.wave ? "sending" : "waiting") : "not started");
  const kind = w.outcome === "passed" ? "ok" : w.outcome === "aborted" ? "bad" : status === "not started" ? "muted" : "info";
  const size = Math.max(1, w.size);
  const bar = h(
    "span",
    { class: "wave-bar", role: "img", "aria-label": `${done(w.counts)} of ${w.size} done` },
    SEGMENTS.filter(([k]) => w.counts[k] > 0).map(([k, cls]) => {
      const seg = h("span", { class: `seg seg-${cls}`, title: `${w.counts[k]} ${k}` });
      // Through the CSSOM: the page's CSP allows no inline style attributes.
      seg.style.width = `${(100 * w.counts[k]) / size}%`;
      return seg;
    }),
  );
  const extra = [
    w.counts.caughtUp ? `${w.counts.caughtUp} caught up` : "",
    w.counts.rolledBack ? `${w.counts.rolledBack} rolled back` : "",
    w.counts.rollbackFailed ? `${w.counts.rollbackFailed} rollback failed` : "",
  ].filter(Boolean);
  return h(
    "li",
    { class: selected ? "wave selected" : "wave", "data-wave": w.index, "data-outcome": w.outcome ?? status, "data-done": done(w.counts), "data-size": w.size },
    h("button", { type: "button", class: "wave-name", onclick: onSelect, "aria-pressed": selected ? "true" : "false" }, `Wave ${w.index + 1}`),
    bar,
    h("span", { class: "wave-count" }, `${done(w.counts)} / ${w.size}`),
    badge(status, kind),
    extra.length ? h("span", { class: "muted" }, extra.join(" · ")) : null,
  );
}

/** waveDetail lists a wave's terminals with their outcome, catch-up and rollback. */
function waveDetail(w: RolloutWave): HTMLElement {
  const rows = (w.targets ?? []).map((t: RolloutTarget) =>
    h(
      "tr",
      { "data-terminal-id": t.terminalId },
      h("td", {}, h("a", { href: `#/terminals/${encodeURIComponent(t.terminalId)}`, class: "mono" }, t.terminalId)),
      h("td", {}, targetBadge(t.state)),
      h("td", {}, t.reason ?? ""),
      h("td", {}, targetBadge(t.catchUp)),
      h("td", {}, targetBadge(t.rollback), t.rollbackReason ? ` ${t.rollbackReason}` : ""),
      h("td", { class: "mono" }, t.previousVersion && t.targetVersion ? `${t.previousVersion} → ${t.targetVersion}` : ""),
    ),
  );
  for (const id of w.waiting ?? []) {
    rows.push(h("tr", { "data-terminal-id": id }, h("td", {}, h("span", { class: "mono" }, id)), h("td", { colspan: 5, class: "muted" }, "not reached yet")));
  }
  return h(
    "div",
    { id: `rollout-wave-${w.index}` },
    h("h3", {}, `Wave ${w.index + 1}: ${w.size} terminals`),
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { class: "wave-targets" },
        h("thead", {}, h("tr", {}, ["Terminal", "Outcome", "Why", "Caught up", "Rollback", "Config version"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows),
      ),
    ),
  );
}

function plainButton(label: string, attrs: Record<string, string>, act: () => Promise<void>, onError: (err: unknown) => void): HTMLButtonElement {
  const b = h("button", { type: "button", ...attrs }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await act();
    } catch (err) {
      onError(err);
    }
  });
  return b;
}

