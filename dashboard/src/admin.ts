// The admin's pages: registering a terminal (its token shown once, with
// the agent configuration to install), a terminal's credentials (rotate,
// revoke) and the audit trail with filters. Other roles see what role a
// page needs instead of buttons that would fail.

import type { AuditQuery, AuditRecord, Credential } from "./client.js";
import type { App, View } from "./app.js";
import { h, replace, ago, clock, fullTime, badge, copyButton, hashParams, setHashParams, confirmButton } from "./dom.js";

/** TERMINAL_ID is the API's rule for terminal ids. */
const TERMINAL_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** AUDIT_ACTIONS are the actions the audit trail records. */
const AUDIT_ACTIONS = ["config.set", "command.send", "terminal.sync", "terminal.create", "credential.rotate", "credential.revoke", "request.denied"];

const AUDIT_PAGE = 50;

/** needsAdmin renders the notice an admin page shows to other roles. */
function needsAdmin(app: App, root: HTMLElement, title: string, what: string): View {
  replace(root, h("section", { class: "panel", id: "needs-role" }, h("h2", {}, title), h("p", { class: "empty", "data-needs-role": "admin" }, app.needs("admin", what))));
  return { dispose: () => {} };
}

/** registerView is the page that registers a terminal (admin). */
export function registerView(app: App, root: HTMLElement): View {
  if (!app.can("admin")) return needsAdmin(app, root, "Register a terminal", "Registering a terminal");
  const ctl = new AbortController();
  const id = h("input", { id: "register-id", name: "id", required: true, pattern: TERMINAL_ID.source, placeholder: "e.g. line3-cam07", autocomplete: "off", spellcheck: "false" });
  const name = h("input", { id: "register-name", name: "name", placeholder: "e.g. Line 3 camera 7", autocomplete: "off", maxlength: 200 });
  const groups = h("input", { id: "register-groups", name: "groups", value: (app.me?.groups ?? []).join(", "), placeholder: "e.g. plant-1, line-3", autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "primary", id: "register-submit" }, "Register");
  const check = h("p", { class: "muted", id: "register-check" });
  const result = h("div", { id: "register-result" });
  const form = h(
    "form",
    { class: "stacked", id: "register-form", novalidate: true },
    h("label", {}, "Terminal id ", id, h("span", { class: "muted" }, " 1–128 of A–Z a–z 0–9 . _ : -")),
    h("label", {}, "Name ", name, h("span", { class: "muted" }, " optional")),
    h("label", {}, "Groups ", groups, h("span", { class: "muted" }, " comma-separated; users see the terminals that share a group with them (admins see all)")),
    check,
    h("div", { class: "actions" }, submit),
  );
  replace(root, h("section", { class: "panel", id: "register-panel" }, h("h2", {}, "Register a terminal"), form), result);

  const groupList = () => groups.value.split(",").map((g) => g.trim()).filter(Boolean);
  const validate = (): string => {
    const v = id.value.trim();
    if (!v) return "Enter the terminal's id.";
    if (!TERMINAL_ID.test(v)) return `"${v}" is not a terminal id: use 1–128 of A–Z a–z 0–9 . _ : -`;
    if (groupList().length === 0) return "Without a group only admins will see this terminal.";
    return "";
  };
  const showCheck = () => {
    const msg = validate();
    check.textContent = msg;
    check.className = msg && !msg.startsWith("Without") ? "bad-text" : "muted";
  };
  for (const el of [id, groups]) el.addEventListener("input", showCheck);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = validate();
    showCheck();
    if (msg && !msg.startsWith("Without")) return;
    submit.disabled = true;
    try {
      const created = await app.api.createTerminal({ id: id.value.trim(), name: name.value.trim() || undefined, groups: groupList() }, { signal: ctl.signal });
      app.clear("register");
      replace(result, tokenPanel(app, created.id, created.token, "registered"));
      form.reset();
      groups.value = (app.me?.groups ?? []).join(", ");
      check.textContent = "";
    } catch (err) {
      app.report("register", `Registering ${id.value.trim()} failed`, err);
    } finally {
      submit.disabled = false;
    }
  });
  id.focus();
  return { dispose: () => ctl.abort() };
}

/**
 * tokenPanel shows a terminal's new token once, with a copy button, and the
 * agent configuration that uses it (docs/agent.md).
 */
function tokenPanel(app: App, id: string, token: string, what: "registered" | "rotated", oldUntil?: string): HTMLElement {
  const server = app.agentServerURL || "wss://{api-id}.execute-api.{region}.amazonaws.com/{stage}";
  const snippet = JSON.stringify({ terminal_id: id, server_url: server, token, log_inputs: [] }, null, 2);
  const tokenField = h("input", { id: "new-token", class: "token", readonly: true, value: token, "aria-label": "The new token", spellcheck: "false" });
  const pre = h("pre", { id: "agent-snippet", class: "snippet" }, snippet);
  return h(
    "section",
    { class: "panel token-panel", id: "token-panel", "data-terminal-id": id },
    h("h3", {}, what === "registered" ? `Terminal ${id} registered` : `New token for ${id}`),
    h("p", { class: "warn-text" }, "This token is shown only now: the API keeps only its hash. Copy it to the device before you leave this page."),
    what === "rotated" && oldUntil ? h("p", { class: "muted" }, `The old tokens keep working until ${fullTime(oldUntil)}.`) : null,
    h("div", { class: "token-row" }, tokenField, copyButton(() => token, "Copy token", { id: "copy-token" }, tokenField)),
    h("h4", {}, "Agent configuration"),
    h(
      "p",
      { class: "muted" },
      "Save as /etc/edgesync/agent.json on the device (mode 0600: it holds the token), add the log files to follow to log_inputs, and start edgesync-agent; see docs/agent.md.",
      app.agentServerURL ? "" : " Put the stack's WebSocketURL output in server_url.",
    ),
    pre,
    h("div", { class: "actions" }, copyButton(() => snippet, "Copy configuration", { id: "copy-snippet" }, pre), h("a", { href: `#/terminals/${encodeURIComponent(id)}` }, `Open ${id}`)),
  );
}

/** CredentialsPanel is the credentials section of a terminal page (admin). */
export interface CredentialsPanel {
  element: HTMLElement;
  load(): Promise<void>;
}

/** credentialsPanel lists terminal id's tokens and rotates or revokes them. */
export function credentialsPanel(app: App, id: string, signal: AbortSignal): CredentialsPanel {
  const list = h("tbody", { id: "credential-rows" });
  const overlap = h(
    "select",
    { id: "rotate-overlap", "aria-label": "How long the old tokens keep working" },
    [
      ["0", "old tokens stop now"],
      ["3600", "old tokens work 1 more hour"],
      ["86400", "old tokens work 24 more hours"],
      ["604800", "old tokens work 7 more days"],
    ].map(([v, t]) => h("option", { value: v }, t)),
  );
  overlap.value = "86400";
  const rotate = h("button", { type: "button", id: "btn-rotate" }, "Rotate token");
  const failed = (what: string) => (err: unknown) => app.report("credentials", `${what} failed`, err);
  const revokeAll = confirmButton("Revoke all tokens", "Confirm: revoke all", { id: "btn-revoke-all", class: "danger" }, async () => {
    await app.api.revokeCredentials(id, "", { signal });
    app.clear("credentials");
    await load();
  }, failed(`Revoking the tokens of ${id}`));
  const shown = h("div", { id: "rotate-result" });
  const element = h(
    "section",
    { class: "panel", id: "credentials-panel" },
    h("div", { class: "panel-head" }, h("h3", {}, "Credentials"), h("div", { class: "actions" }, overlap, rotate, revokeAll, h("a", { href: `#/audit?terminal=${encodeURIComponent(id)}`, id: "terminal-audit-link" }, "Audit trail"))),
    shown,
    h("div", { class: "table-scroll" }, h("table", { class: "credentials" }, h("thead", {}, h("tr", {}, ["Credential", "Created", "State", ""].map((c) => h("th", { scope: "col" }, c)))), list)),
  );

  const load = async () => {
    const res = await app.api.listCredentials(id, { signal });
    const now = Date.now();
    if (res.credentials.length === 0) {
      replace(list, h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No tokens: the terminal cannot connect.")));
      return;
    }
    replace(
      list,
      [...res.credentials]
        .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))
        .map((c) => {
          const st = credentialState(c, now);
          return h(
            "tr",
            { "data-credential-id": c.id, "data-state": st.state },
            h("td", {}, h("code", {}, c.id)),
            h("td", { title: fullTime(c.createdAt) }, ago(c.createdAt, now)),
            h("td", {}, st.badge),
            h(
              "td",
              {},
              st.state === "revoked"
                ? null
                : confirmButton("Revoke", "Confirm revoke", { class: "danger revoke", "data-credential-id": c.id }, async () => {
                    await app.api.revokeCredentials(id, c.id, { signal });
                    app.clear("credentials");
                    await load();
                  }, failed(`Revoking credential ${c.id} of ${id}`)),
            ),
          );
        }),
    );
  };

  rotate.addEventListener("click", async () => {
    rotate.disabled = true;
    try {
      const r = await app.api.rotateCredentials(id, { overlapSeconds: Number(overlap.value) }, { signal });
      app.clear("credentials");
      replace(shown, tokenPanel(app, id, r.token, "rotated", r.oldTokensUntil));
      await load();
    } catch (err) {
      app.report("credentials", `Rotating the token of ${id} failed`, err);
    } finally {
      rotate.disabled = false;
    }
  });

  return { element, load };
}

function credentialState(c: Credential, now: number): { state: string; badge: HTMLElement } {
  if (!c.notAfter) return { state: "active", badge: badge("active", "ok") };
  const end = Date.parse(c.notAfter);
  if (end <= now) return { state: "revoked", badge: badge(`ended ${ago(c.notAfter, now)}`, "muted", { title: fullTime(c.notAfter) }) };
  return { state: "ending", badge: badge(`ends ${clock(c.notAfter)}`, "warn", { title: fullTime(c.notAfter) }) };
}


/** auditView is the audit trail with its filters (admin); the filters live in the address (#/audit?actor=…). */
export function auditView(app: App, root: HTMLElement): View {
  if (!app.can("admin")) return needsAdmin(app, root, "Audit trail", "The audit trail");
  const ctl = new AbortController();
  const p = hashParams();
  const terminal = h("input", { id: "audit-terminal", placeholder: "Terminal id", value: p.get("terminal") ?? "", autocomplete: "off", "aria-label": "Terminal" });
  const actor = h("input", { id: "audit-actor", placeholder: "Actor (exact)", value: p.get("actor") ?? "", autocomplete: "off", "aria-label": "Actor" });
  const action = h("select", { id: "audit-action", "aria-label": "Action" }, h("option", { value: "" }, "any action"), AUDIT_ACTIONS.map((a) => h("option", { value: a }, a)));
  action.value = p.get("action") ?? "";
  const since = h("input", { id: "audit-since", placeholder: "Since: 24h or 2026-01-02T15:04:05Z", value: p.get("since") ?? "", autocomplete: "off", "aria-label": "Since", size: 26 });
  const until = h("input", { id: "audit-until", placeholder: "Until: time or duration ago", value: p.get("until") ?? "", autocomplete: "off", "aria-label": "Until", size: 22 });
  const apply = h("button", { type: "submit", class: "primary", id: "audit-apply" }, "Apply");
  const clear = h("button", { type: "button", id: "audit-clear" }, "Clear");
  const summary = h("p", { class: "summary", id: "audit-summary" }, "Loading the audit trail…");
  const rows = h("tbody", { id: "audit-rows" });
  const more = h("button", { type: "button", id: "audit-more", hidden: true }, "Older records");
  const form = h("form", { class: "filters", id: "audit-filters", role: "search" }, terminal, actor, action, since, until, apply, clear);
  replace(
    root,
    h(
      "section",
      { class: "panel", id: "audit-panel" },
      h("div", { class: "panel-head" }, h("h2", {}, "Audit trail"), h("span", { class: "muted" }, "newest first; records never expire")),
      form,
      summary,
      h(
        "div",
        { class: "table-scroll" },
        h("table", { class: "audit", id: "audit" }, h("thead", {}, h("tr", {}, ["Time", "Actor", "Action", "Terminal", "Outcome", "Detail"].map((c) => h("th", { scope: "col" }, c)))), rows),
      ),
      more,
    ),
  );

  let cursor = "";
  let count = 0;
  let generation = 0;
  const query = (): AuditQuery => {
    const q: AuditQuery = { limit: AUDIT_PAGE };
    if (terminal.value.trim()) q.terminal = terminal.value.trim();
    if (actor.value.trim()) q.actor = actor.value.trim();
    if (action.value) q.action = action.value;
    if (since.value.trim()) q.since = since.value.trim();
    if (until.value.trim()) q.until = until.value.trim();
    return q;
  };
  const load = async (fresh: boolean) => {
    const gen = fresh ? ++generation : generation;
    const q = query();
    if (!fresh && cursor) q.cursor = cursor;
    try {
      const page = await app.api.getAuditTrail(q, { signal: ctl.signal });
      if (gen !== generation) return;
      app.clear("audit");
      if (fresh) {
        replace(rows);
        count = 0;
      }
      rows.append(...page.records.map(auditRow));
      count += page.records.length;
      cursor = page.nextCursor;
      more.hidden = !cursor;
      const filtered = Object.keys(q).some((k) => k !== "limit" && k !== "cursor");
      summary.textContent = count === 0 ? (filtered ? "No records match the filters." : "No records yet.") : `${count} record${count === 1 ? "" : "s"}${filtered ? " matching the filters" : ""}${cursor ? "; older ones follow" : ""}.`;
    } catch (err) {
      if (gen !== generation) return;
      app.report("audit", "Reading the audit trail failed", err);
      if (fresh) summary.textContent = "Could not read the audit trail; see the error above.";
    }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query())) if (k !== "limit" && v) params.set(k, String(v));
    setHashParams(params);
    void load(true);
  });
  action.addEventListener("change", () => form.requestSubmit());
  clear.addEventListener("click", () => {
    terminal.value = actor.value = since.value = until.value = "";
    action.value = "";
    form.requestSubmit();
  });
  more.addEventListener("click", () => void load(false));
  void load(true);
  return { dispose: () => ctl.abort() };
}

function auditRow(r: AuditRecord): HTMLElement {
  const kind = r.outcome === "requested" ? "ok" : r.outcome === "denied" ? "bad" : "warn";
  return h(
    "tr",
    { "data-audit-id": r.id, "data-action": r.action, "data-actor": r.actor, "data-terminal-id": r.terminalId ?? "" },
    h("td", { title: fullTime(r.at) }, h("time", { datetime: r.at }, new Date(r.at).toLocaleString())),
    h("td", {}, r.actor, r.role ? h("span", { class: "muted" }, ` (${r.role})`) : null),
    h("td", {}, h("code", {}, r.action)),
    h("td", {}, r.terminalId ? h("a", { href: `#/terminals/${encodeURIComponent(r.terminalId)}` }, r.terminalId) : h("span", { class: "muted" }, "—")),
    h("td", {}, badge(r.outcome, kind)),
    h("td", { class: "audit-detail" }, detailText(r)),
  );
}

/** detailText says in one line what an audit record's detail holds. */
function detailText(r: AuditRecord): string {
  const d = r.detail as Record<string, unknown> | undefined;
  if (d === undefined || d === null) return "";
  if (typeof d !== "object") return String(d);
  if (r.action === "config.set" && Array.isArray(d.diff)) {
    const changes = (d.diff as { path: string; before?: unknown; after?: unknown }[]).map((c) => `${c.path}: ${c.before === undefined ? "(none)" : JSON.stringify(c.before)} → ${c.after === undefined ? "(removed)" : JSON.stringify(c.after)}`);
    return `version ${String(d.version ?? "?")}; ${changes.length ? changes.join("; ") : "no changes"}`;
  }
  const text = JSON.stringify(d);
  return text.length > 240 ? text.slice(0, 237) + "…" : text;
}
