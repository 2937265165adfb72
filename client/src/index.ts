/**
 * @edgesync/client — a typed client for the edgesync HTTP API.
 *
 * It runs unchanged in browsers and in Node 18+ (it needs only `fetch`),
 * has no runtime dependencies, and keeps the method names of the existing
 * frontend (`getTerminalConfig`, `getTerminalLogs`, `getTerminalStatus`), so
 * it can replace its service definitions one for one.
 *
 * ```ts
 * const api = new EdgesyncClient({ baseURL: "https://abc123.execute-api.eu-west-1.amazonaws.com" });
 * const status = await api.getTerminalStatus("cam-7");
 * const cmd = await api.sendCommand("cam-7", "ping");
 * const done = await api.waitForCommand("cam-7", cmd.requestId);
 * ```
 *
 * @packageDocumentation
 */

/** TimeString is an RFC 3339 timestamp as the API writes it, e.g. "2026-01-02T15:04:05.123Z". */
export type TimeString = string;

/** TerminalID identifies a terminal. Numbers are accepted as the existing frontend passes them. */
export type TerminalID = string | number;

/**
 * Freshness says how current a piece of synced data is: when it was synced,
 * until when it counts as fresh, whether it is past that (stale: the last
 * known value is being served) and whether a refresh was pushed to the
 * terminal and is pending. `syncedAt` and `freshUntil` are absent when
 * nothing was ever synced.
 */
export interface Freshness {
  syncedAt?: TimeString;
  /**
   * confirmedAt, for a config, is when the terminal last said it runs that
   * version (a status report naming it) after syncedAt; freshness counts
   * from it.
   */
  confirmedAt?: TimeString;
  /**
   * freshUntil is the promise: the data is current until then (synced or
   * confirmed plus a TTL that follows the terminal's reporting interval).
   */
  freshUntil?: TimeString;
  fresh: boolean;
  stale: boolean;
  refreshing: boolean;
}

/** Terminal is a terminal as the API lists it (GET /terminals, GET /terminals/{id}). */
export interface Terminal {
  id: string;
  name?: string;
  groups?: string[];
  createdAt: TimeString;
  /** online is the effective state: connected and heard from recently. */
  online: boolean;
  /** inactive is true when the terminal is marked connected but has gone quiet. */
  inactive?: boolean;
  connectedAt?: TimeString;
  lastSeen?: TimeString;
  disconnectedAt?: TimeString;
  disconnectReason?: string;
  agentVersion?: string;
  /** lastSeq is the highest log sequence number stored for the terminal. */
  lastSeq: number;
  /** dropped counts the log lines the terminal reported its spool dropped. */
  dropped: number;
  configVersion?: string;
  /** config is the freshness of the terminal's synced config. */
  config: Freshness;
  /** status is the freshness of the terminal's synced status. */
  status: Freshness;
  /** summary is the row of the fleet table: the last status's figures and the dropped lines. */
  summary?: TerminalSummary;
}

/**
 * TerminalSummary condenses a terminal's last reported status for a fleet
 * listing: CPU, memory and disk use in percent (absent when the status has
 * no such number) and the log lines its spool dropped.
 */
export interface TerminalSummary {
  cpu?: number;
  memory?: number;
  disk?: number;
  dropped: number;
}

/**
 * TerminalPage is one page of GET /terminals, in id order; nextCursor is ""
 * on the last page. With filters a page may hold fewer terminals than the
 * limit (even none) while nextCursor is not empty: the server reads a
 * bounded number of terminals per request, so keep following nextCursor.
 */
export interface TerminalPage {
  terminals: Terminal[];
  nextCursor: string;
}

/** ListTerminalsParams select a page of terminals; every filter given must hold. */
export interface ListTerminalsParams {
  /** limit is the page size, 1 to 500 (default 100). */
  limit?: number;
  /** cursor is a nextCursor from the previous page (of the same filters). */
  cursor?: string;
  /** group keeps the terminals in that group. */
  group?: string;
  /** q keeps the terminals whose id or name contains it, ignoring case. */
  q?: string;
  /** online keeps the terminals online (true) or not (false). */
  online?: boolean;
  /** stale keeps the terminals whose config or status is stale (true) or neither (false). */
  stale?: boolean;
  /** agentVersion keeps the terminals that run exactly that agent version. */
  agentVersion?: string;
}

/**
 * DocumentView is a synced JSON document (config or status) with its
 * freshness. `data` is null when the terminal never reported one.
 */
export interface DocumentView<T = Record<string, unknown>> extends Freshness {
  terminalId: string;
  online: boolean;
  /** version identifies a config version; absent for status. */
  version?: string;
  data: T | null;
}

/**
 * TerminalStatusData holds the well-known keys of a status report (see
 * docs/PROTOCOL.md); terminals may add others.
 */
export interface TerminalStatusData {
  cpu_percent?: number;
  memory_percent?: number;
  disk_percent?: number;
  disk_path?: string;
  load1?: number;
  load5?: number;
  load15?: number;
  uptime_seconds?: number;
  hostname?: string;
  agent_version?: string;
  config_version?: string;
  time?: TimeString;
  [key: string]: unknown;
}

/** TerminalConfigData is a terminal's config document; its keys are the terminal's. */
export type TerminalConfigData = Record<string, unknown>;

/**
 * DesiredConfig is the config an operator asked a terminal to run
 * (updateConfig) and the state of its delivery: the set_config command
 * `requestId` is pending, succeeded, failed or timed_out; `pending` stays
 * true until it succeeded.
 */
export interface DesiredConfig {
  data?: TerminalConfigData;
  version?: string;
  setAt?: TimeString;
  setBy?: string;
  requestId?: string;
  state: CommandState;
  pending: boolean;
  error?: string;
}

/** ConfigView is a terminal's reported config and, once one was set, its desired config. */
export type ConfigView<T = TerminalConfigData> = DocumentView<T> & { desired?: DesiredConfig };

/** StatusSample is one entry of a terminal's status history. */
export interface StatusSample {
  at: TimeString;
  data: TerminalStatusData;
}

/** StatusHistory is the answer of GET /terminals/{id}/status/history, oldest sample first. */
export interface StatusHistory {
  terminalId: string;
  samples: StatusSample[];
}

/** StatusHistoryParams select status samples. */
export interface StatusHistoryParams {
  /** since is a time, or a positive Go duration such as "30m" counted back from now (default 1 h). */
  since?: Date | string;
  /** limit bounds the samples returned, 1 to 2000 (default 120). */
  limit?: number;
}

/** LogLevel is a log line's level. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** LogEntry is one log line; seq is the terminal's sequence number of it. */
export interface LogEntry {
  seq: number;
  ts: TimeString;
  level: LogLevel | string;
  msg: string;
  source?: string;
  /**
   * attrs are the line's attributes, each a JSON scalar: a terminal that
   * announced typed attributes (protocol "attrs.typed") keeps numbers and
   * booleans as they were logged; older terminals send strings.
   */
  attrs?: Record<string, string | number | boolean | null>;
}

/**
 * LogQuery selects log lines. With `since` (a sequence number) the read
 * goes forward: the oldest `count` lines after it, and `nextCursor`
 * continues the live tail. Without it the read returns the newest `count`
 * lines (still in ascending order) and `nextCursor` pages backward.
 * Other keys are sent as they are, as the existing frontend did.
 */
export interface LogQuery {
  /** count is the page size, 1 to 1000 (default 100). `limit` is an alias. */
  count?: number;
  limit?: number;
  /** since is a sequence number: return lines after it. `since_seq` is an alias. */
  since?: number | string;
  since_seq?: number | string;
  /** level is the minimum level. */
  level?: LogLevel | string;
  /** cursor is a nextCursor of a previous page; not together with since. */
  cursor?: string;
  /** q keeps lines whose message or source contains it, ignoring case. */
  q?: string;
  [key: string]: string | number | boolean | null | undefined;
}

/**
 * LogPage is the answer to a log read: entries in increasing seq order,
 * each seq at most once. `nextCursor` is absent when there is nothing more
 * (for now, in forward mode).
 */
export interface LogPage extends Freshness {
  terminalId: string;
  entries: LogEntry[];
  nextCursor?: string;
  /** lastSeq is the highest sequence number stored for the terminal. */
  lastSeq: number;
  dropped: number;
  online: boolean;
}

/** CommandName is a command a terminal answers. */
export type CommandName = "get_status" | "get_config" | "get_logs" | "set_config" | "ping";

/** CommandState is a command's outcome; a pending command past its deadline reads timed_out. */
export type CommandState = "pending" | "succeeded" | "failed" | "timed_out";

/** Command is a command sent to a terminal and its outcome. */
export interface Command<R = unknown> {
  terminalId: string;
  requestId: string;
  command: CommandName | string;
  params?: Record<string, unknown>;
  state: CommandState;
  createdAt: TimeString;
  deadline: TimeString;
  completedAt?: TimeString;
  /** result is the terminal's answer when the command succeeded. */
  result?: R;
  /** error is the terminal's explanation when the command failed. */
  error?: string;
  /** actor says who asked. */
  actor?: string;
}

/** SyncResult is the answer of POST /terminals/{id}/sync: the pull commands pushed. */
export interface SyncResult {
  terminalId: string;
  commands: Command[];
}

/** Role is what a user of the API may do; each includes the ones before it. */
export type Role = "viewer" | "operator" | "admin";

/** Me is the caller as the API sees them (GET /me). */
export interface Me {
  subject: string;
  role: Role;
  /** groups are the terminal groups the caller sees (admins see every terminal). */
  groups: string[];
}

/** hasRole reports whether role includes want (admin ⊇ operator ⊇ viewer). */
export function hasRole(role: Role | string | undefined, want: Role): boolean {
  const rank = (r: string | undefined) => (r === "admin" ? 3 : r === "operator" ? 2 : r === "viewer" ? 1 : 0);
  return rank(role) > 0 && rank(role) >= rank(want);
}

/** NewTerminal registers a terminal (createTerminal). */
export interface NewTerminal {
  /** id is 1–128 of A-Z a-z 0-9 . _ : - */
  id: string;
  name?: string;
  /** groups decide who sees the terminal: users who share a group with it (and admins). */
  groups?: string[];
}

/** CreatedTerminal is a registered terminal's id and its token, shown only this once. */
export interface CreatedTerminal {
  id: string;
  token: string;
}

/** Credential is one of a terminal's accepted tokens, without the token. */
export interface Credential {
  id: string;
  createdAt: TimeString;
  /** notAfter, when present, is when the token stops (or stopped) being accepted. */
  notAfter?: TimeString;
}

/** CredentialList is the answer of listCredentials. */
export interface CredentialList {
  terminalId: string;
  credentials: Credential[];
}

/** RotatedToken is a new token, shown only this once, and until when the old ones work. */
export interface RotatedToken {
  terminalId: string;
  token: string;
  oldTokensUntil: TimeString;
}

/** RevokeResult says which credential was revoked ("" for all of them). */
export interface RevokeResult {
  terminalId: string;
  revoked: string;
}

/**
 * AuditRecord is one entry of the audit trail: who did what to which
 * terminal, and whether it was requested, failed or denied. detail is
 * action-specific (a config diff, a command, the denied request), secrets
 * masked.
 */
export interface AuditRecord {
  id: string;
  at: TimeString;
  actor: string;
  role?: string;
  action: string;
  terminalId?: string;
  outcome: "requested" | "failed" | "denied" | string;
  detail?: unknown;
}

/** AuditQuery selects audit records (newest first); every filter given must hold. */
export interface AuditQuery {
  /** terminal keeps one terminal's records. */
  terminal?: string;
  /** actor and action keep records with exactly that actor or action. */
  actor?: string;
  action?: string;
  /** since (inclusive) and until (exclusive) bound the time: a Date, an RFC 3339 time or a duration back from now ("24h"). */
  since?: Date | string;
  until?: Date | string;
  /** limit is the page size, 1 to 1000 (default 100). */
  limit?: number;
  cursor?: string;
}

/** AuditPage is one page of the audit trail; nextCursor is "" on the last page. */
export interface AuditPage {
  records: AuditRecord[];
  nextCursor: string;
}

/** RolloutState is where a group config rollout is in its life. */
export type RolloutState = "running" | "paused" | "completed" | "aborted" | "cancelled" | "rolling_back" | "rolled_back";

/** TargetState is the outcome of one terminal of a wave (and of its catch-up or rollback). */
export type TargetState = "pending" | "succeeded" | "failed" | "timed_out" | "offline" | "skipped";

/**
 * RolloutSpec starts a rollout (PUT /groups/{group}/config): exactly one of
 * config (the whole desired config) and patch (a JSON merge patch, RFC
 * 7396), and how to stage it.
 */
export interface RolloutSpec {
  config?: Record<string, unknown>;
  patch?: Record<string, unknown>;
  /** waveSize (1–1000) or wavePercent (of the group, above 0 to 100); neither: one wave. A wave holds at most 1000 terminals whatever is asked. */
  waveSize?: number;
  wavePercent?: number;
  /** waveIntervalSeconds is the pause between a wave's end and the next one (default 0). */
  waveIntervalSeconds?: number;
  /** abortAbove stops the rollout when more than this share (0–1) of a wave's reached terminals failed or timed out (default 0.1). */
  abortAbove?: number;
  /** overrideTerminalConfig includes terminals that have their own desired config. */
  overrideTerminalConfig?: boolean;
}

/** WaveCounts are a wave's (or a rollout's) tallies. */
export interface WaveCounts {
  succeeded: number;
  failed: number;
  timedOut: number;
  offline: number;
  skipped: number;
  caughtUp: number;
  catchUpFailed: number;
  rolledBack: number;
  rollbackFailed: number;
}

/** RolloutTarget is one terminal a wave reached. */
export interface RolloutTarget {
  rolloutId: string;
  terminalId: string;
  wave: number;
  state: TargetState;
  reason?: string;
  requestId?: string;
  previous?: Record<string, unknown>;
  previousVersion?: string;
  targetVersion?: string;
  sentAt?: TimeString;
  completedAt?: TimeString;
  deadline?: TimeString;
  catchUp?: TargetState;
  catchUpRequestId?: string;
  rollback?: TargetState;
  rollbackReason?: string;
  rollbackRequestId?: string;
}

/** RolloutWave is one wave: its size and tallies; targets and waiting only from getRolloutWave. */
export interface RolloutWave {
  index: number;
  size: number;
  counts: WaveCounts;
  startedAt?: TimeString;
  finishedAt?: TimeString;
  outcome?: "passed" | "aborted";
  targets?: RolloutTarget[];
  waiting?: string[];
}

/** Rollout is a group config rollout; waveList only from getRollout and the control calls. */
export interface Rollout {
  id: string;
  group: string;
  config?: Record<string, unknown>;
  patch?: Record<string, unknown>;
  waveSize: number;
  waveIntervalSeconds: number;
  abortAbove: number;
  overrideTerminalConfig?: boolean;
  total: number;
  waves: number;
  state: RolloutState;
  /** wave is the current wave's index; phase where it is. */
  wave: number;
  phase?: "due" | "sending" | "waiting";
  phaseAt?: TimeString;
  /** waveSent is how many of the current wave's terminals were handled so far (a wave is sent at most 100 terminals a second). */
  waveSent?: number;
  nextWaveAt?: TimeString;
  waveDeadline?: TimeString;
  rollbackWaves?: number;
  rolledBackWaves?: number;
  reason?: string;
  createdAt: TimeString;
  createdBy: string;
  updatedAt?: TimeString;
  revision: number;
  counts: WaveCounts;
  waveList?: RolloutWave[];
}

/** RolloutPage is one page of a group's rollouts, newest first; nextCursor is "" on the last page. */
export interface RolloutPage {
  rollouts: Rollout[];
  nextCursor: string;
}

/**
 * LogSearch selects lines across the terminals the caller sees (GET
 * /logs): their groups, one group, or every terminal for admins.
 */
export interface LogSearch {
  /** group keeps one group's terminals (a group the caller is not in has no lines). */
  group?: string;
  /** level is the minimum level. */
  level?: LogLevel | string;
  /** q keeps lines whose message or source contains it, ignoring case. */
  q?: string;
  /** since (inclusive) and until (exclusive) bound the lines' times: a Date, an RFC 3339 time or a duration back from now ("1h"). */
  since?: Date | string;
  until?: Date | string;
  /** cursor is a nextCursor of a previous page of the same search. */
  cursor?: string;
  /** limit is the page size, 1 to 500 (default 100). */
  limit?: number;
}

/** SearchLine is a log line and the terminal it came from. */
export interface SearchLine extends LogEntry {
  terminalId: string;
}

/**
 * SearchPage is a page of a fleet-wide search, newest first. A page may be
 * short, even empty, with a nextCursor: each request reads a bounded
 * number of stored chunks. nextCursor is "" when no lines remain.
 */
export interface SearchPage {
  lines: SearchLine[];
  nextCursor: string;
  /** terminals is how many terminals the search covers; chunks how many stored chunks this page read. */
  terminals: number;
  chunks: number;
}

/** AlertKind is what an alert rule watches. */
export type AlertKind = "offline" | "error_rate" | "status" | "dropped";

/** AlertState is an alert's state. */
export type AlertState = "open" | "acknowledged" | "cleared";

/**
 * NewAlertRule is a rule to add to a group: offline (minutes offline, 0:
 * at once), error_rate (more than threshold error lines within minutes),
 * status (field op threshold, e.g. disk_percent > 90), dropped (dropped
 * lines rose within minutes).
 */
export interface NewAlertRule {
  kind: AlertKind;
  name?: string;
  minutes?: number;
  field?: string;
  op?: ">" | ">=" | "<" | "<=";
  threshold?: number;
}

/** AlertRule is a group's rule. */
export interface AlertRule extends NewAlertRule {
  id: string;
  group: string;
  minutes: number;
  threshold: number;
  createdAt: TimeString;
  createdBy?: string;
}

/** Alert is a rule's alert for one terminal: one at a time per rule and terminal. */
export interface Alert {
  group: string;
  ruleId: string;
  terminalId: string;
  kind: AlertKind;
  ruleName?: string;
  state: AlertState;
  openedAt: TimeString;
  acknowledgedAt?: TimeString;
  acknowledgedBy?: string;
  clearedAt?: TimeString;
  message: string;
  value: number;
}

/** AlertQuery selects alerts; state "active" keeps open and acknowledged ones. */
export interface AlertQuery {
  group?: string;
  state?: AlertState | "active";
  cursor?: string;
  limit?: number;
}

/** AlertPage is a page of alerts; nextCursor is "" on the last page. */
export interface AlertPage {
  alerts: Alert[];
  nextCursor: string;
}

/** APIErrorBody is the body of every API error response. */
export interface APIErrorBody {
  code: string;
  message: string;
}

/** RequestOptions apply to one call. */
export interface RequestOptions {
  /** signal aborts the call; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** SendCommandOptions apply to sendCommand. */
export interface SendCommandOptions extends RequestOptions {
  /** timeoutSeconds is the command's deadline, 0 to 300 (0 or absent: the server default, 10 s). */
  timeoutSeconds?: number;
}


/** WaitOptions control waitForCommand. */
export interface WaitOptions extends RequestOptions {
  /** intervalMs is the polling interval (default 500). */
  intervalMs?: number;
  /** timeoutMs bounds the wait (default 330000: the longest command deadline plus a margin). */
  timeoutMs?: number;
}

/** FetchLike is the subset of `fetch` the client uses. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** EdgesyncClientOptions configure an EdgesyncClient. */
export interface EdgesyncClientOptions {
  /**
   * baseURL is the HTTP API's root, e.g. the API Gateway URL
   * "https://abc123.execute-api.eu-west-1.amazonaws.com" (with a stage path
   * if the API has one) or "http://127.0.0.1:8080". A trailing slash is ignored.
   */
  baseURL: string;
  /** headers are sent with every request. */
  headers?: Record<string, string>;
  /**
   * getAuthHeader returns the Authorization header value for a request
   * (e.g. "Bearer …"), or nothing to send none. It is called per request, so
   * it may refresh a token.
   */
  getAuthHeader?: () => string | null | undefined | Promise<string | null | undefined>;
  /** fetch replaces the global fetch (for tests, or to add retries). */
  fetch?: FetchLike;
}

/**
 * EdgesyncError is thrown for every failed call. `status` is the HTTP status
 * (0 when no response arrived) and `code` the API's error code: "not_found",
 * "invalid", "offline", "unauthenticated", "forbidden", "throttled",
 * "timeout", "internal", … (when API Gateway itself refuses, with its
 * {"message": …} body, the code follows the status: 401 "unauthenticated",
 * 403 "forbidden", 429 "throttled", …) and, from the client itself,
 * "network" (the API could not be reached), "unexpected_response" (the
 * answer was not the API's JSON) and "wait_timeout" (waitForCommand gave up).
 */
export class EdgesyncError extends Error {
  /** status is the HTTP status, 0 when there was no response. */
  readonly status: number;
  /** code is the machine-readable error code. */
  readonly code: string;
  /** method and url say which request failed. */
  readonly method: string;
  readonly url: string;

  constructor(status: number, code: string, message: string, method: string, url: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EdgesyncError";
    this.status = status;
    this.code = code;
    this.method = method;
    this.url = url;
  }
}

/** MASK replaces a secret value in maskSecrets' output by default. */
export const MASK = "••••••";

/**
 * REDACTED is how the API and terminals write a secret value they hide. In
 * a config sent back with updateConfig (or a terminal's set_config), a value
 * of REDACTED keeps the current one, so an edited config can carry secrets
 * without anyone seeing them: pass REDACTED as maskSecrets' mask.
 */
export const REDACTED = "[redacted]";

/** SECRET_WORD_PARTS: a key word containing one of these names a secret. */
const SECRET_WORD_PARTS = ["passw", "passphrase", "secret", "token", "credential", "authoriz", "private", "cookie"];

/** LOCATION_WORDS: a key whose last word is one of these says where a secret is kept. */
const LOCATION_WORDS = new Set(["file", "path", "dir", "filename"]);

/**
 * isSecretKey reports whether a JSON object key names a secret value. It is
 * edgesync's one rule (protocol.IsSecretKey in Go, which the API and the
 * agent apply; both are tested against protocol/testdata/secret-keys.json).
 *
 * The key is split into words at punctuation, at lower-to-upper case
 * changes ("apiKey" → api, key; "APIKey" → api, key) and between letters
 * and digits ("api_key2" → api, key, 2). The key is secret when a word
 *
 * - contains passw, passphrase, secret, token, credential, authoriz,
 *   private or cookie, or
 * - is pem, or is or ends with key or keys (apikey, signingkeys),
 *
 * unless its last word is file, path, dir or filename: such a key says
 * where a secret is kept ("token_file"), not what it is.
 */
export function isSecretKey(key: string): boolean {
  const words = keyWords(key);
  if (words.length === 0 || LOCATION_WORDS.has(words[words.length - 1])) {
    return false;
  }
  return words.some(
    (w) => SECRET_WORD_PARTS.some((part) => w.includes(part)) || w === "pem" || w.endsWith("key") || w.endsWith("keys"),
  );
}

// Character classes as Go's unicode package defines them: IsLetter (L),
// IsDigit (Nd), IsUpper (Lu), IsLower (Ll).
const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
const UPPER = /^\p{Lu}$/u;
const LOWER = /^\p{Ll}$/u;

/** keyWords splits a key into lower-case words, code point by code point as protocol.keyWords does. */
function keyWords(key: string): string[] {
  const words: string[] = [];
  let cur: string[] = [];
  const flush = () => {
    if (cur.length > 0) {
      words.push(cur.map(lowerRune).join(""));
      cur = [];
    }
  };
  const rs = Array.from(key);
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i];
    const digit = DIGIT.test(r);
    if (!digit && !LETTER.test(r)) {
      flush();
      continue;
    }
    if (cur.length > 0) {
      const prev = cur[cur.length - 1];
      if (digit !== DIGIT.test(prev)) {
        flush();
      } else if (UPPER.test(r) && LOWER.test(prev)) {
        flush();
      } else if (UPPER.test(r) && UPPER.test(prev) && i + 1 < rs.length && LOWER.test(rs[i + 1])) {
        flush(); // "APIKey": the K starts a word
      }
    }
    cur.push(r);
  }
  flush();
  return words;
}

/**
 * lowerRune lower-cases one code point by Unicode's simple mapping, as Go's
 * unicode.ToLower does; JavaScript's toLowerCase applies the full mapping,
 * which differs only for U+0130 (İ → "i̇", two code points, where Go gives "i").
 */
function lowerRune(r: string): string {
  return r === "\u0130" ? "i" : r.toLowerCase();
}

/**
 * maskSecrets returns a copy of value in which the value of every object
 * key that isSecretKey names (at any depth, whatever the value) is replaced
 * by mask (MASK unless given; REDACTED for a config that will be sent back).
 * null and empty strings stay as they are: they hide nothing.
 */
export function maskSecrets<T>(value: T, mask: string = MASK): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) {
      return v.map(walk);
    }
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, inner] of Object.entries(v as Record<string, unknown>)) {
        out[k] = isSecretKey(k) && inner !== null && inner !== "" ? mask : walk(inner);
      }
      return out;
    }
    return v;
  };
  return walk(value) as T;
}

/** DEFAULT_WAIT_TIMEOUT_MS is waitForCommand's default bound. */
const DEFAULT_WAIT_TIMEOUT_MS = 330_000;

/**
 * EdgesyncClient calls the edgesync HTTP API. Every method rejects with an
 * EdgesyncError when the API answers with an error or cannot be reached.
 */
export class EdgesyncClient {
  /** baseURL is the API root without a trailing slash. */
  readonly baseURL: string;
  readonly #headers: Record<string, string>;
  readonly #getAuthHeader: EdgesyncClientOptions["getAuthHeader"];
  readonly #fetch: FetchLike;

  constructor(options: EdgesyncClientOptions) {
    if (!options || typeof options.baseURL !== "string" || options.baseURL.trim() === "") {
      throw new TypeError("EdgesyncClient: baseURL is required, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com");
    }
    let parsed: URL;
    try {
      parsed = new URL(options.baseURL.trim());
    } catch {
      throw new TypeError(`EdgesyncClient: baseURL ${JSON.stringify(options.baseURL)} is not an absolute URL`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new TypeError(`EdgesyncClient: baseURL must be http or https, not ${parsed.protocol}`);
    }
    parsed.search = "";
    parsed.hash = "";
    this.baseURL = parsed.toString().replace(/\/+$/, "");
    this.#headers = { ...(options.headers ?? {}) };
    this.#getAuthHeader = options.getAuthHeader;
    if (options.fetch === undefined && typeof globalThis.fetch !== "function") {
      throw new TypeError("EdgesyncClient: no global fetch (Node 18+ or a browser has one); pass options.fetch");
    }
    // The global fetch is called through a closure: browsers reject a fetch
    // called as a method of another object ("Illegal invocation").
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** listTerminals returns one page of terminals (GET /terminals). */
  listTerminals(params: ListTerminalsParams = {}, options: RequestOptions = {}): Promise<TerminalPage> {
    return this.#request<TerminalPage>("GET", "/terminals", { query: { ...params }, ...options });
  }

  /** listAllTerminals follows nextCursor and returns every terminal. */
  async listAllTerminals(options: RequestOptions & { pageSize?: number } = {}): Promise<Terminal[]> {
    const all: Terminal[] = [];
    let cursor = "";
    do {
      const page = await this.listTerminals({ limit: options.pageSize ?? 500, ...(cursor ? { cursor } : {}) }, options);
      all.push(...page.terminals);
      cursor = page.nextCursor;
    } while (cursor);
    return all;
  }

  /** getTerminal returns one terminal (GET /terminals/{id}). */
  getTerminal(id: TerminalID, options: RequestOptions = {}): Promise<Terminal> {
    return this.#request<Terminal>("GET", `/terminals/${seg(id)}`, options);
  }

  /**
   * getTerminalConfig returns the terminal's last reported config with its
   * freshness (GET /terminals/{id}/config/) and, once one was set with
   * updateConfig, the desired config and its delivery state. Secrets arrive
   * masked unless the caller is an admin; pass the data through maskSecrets
   * before showing it anyway.
   */
  getTerminalConfig<T = TerminalConfigData>(id: TerminalID, options: RequestOptions = {}): Promise<ConfigView<T>> {
    return this.#request<ConfigView<T>>("GET", `/terminals/${seg(id)}/config/`, options);
  }

  /** getTerminalStatus returns the terminal's last reported status with its freshness (GET /terminals/{id}/status/). */
  getTerminalStatus<T = TerminalStatusData>(id: TerminalID, options: RequestOptions = {}): Promise<DocumentView<T>> {
    return this.#request<DocumentView<T>>("GET", `/terminals/${seg(id)}/status/`, options);
  }

  /** getTerminalLogs reads log lines (GET /terminals/{id}/logs/); see LogQuery for the two directions. */
  getTerminalLogs(id: TerminalID, params: LogQuery = {}, options: RequestOptions = {}): Promise<LogPage> {
    return this.#request<LogPage>("GET", `/terminals/${seg(id)}/logs/`, { query: params, ...options });
  }

  /** getStatusHistory returns status samples, oldest first (GET /terminals/{id}/status/history). */
  getStatusHistory(id: TerminalID, params: StatusHistoryParams = {}, options: RequestOptions = {}): Promise<StatusHistory> {
    const since = params.since instanceof Date ? params.since.toISOString() : params.since;
    return this.#request<StatusHistory>("GET", `/terminals/${seg(id)}/status/history`, {
      query: { since, limit: params.limit },
      ...options,
    });
  }

  /**
   * sync asks an online terminal for fresh status, config and new logs
   * (POST /terminals/{id}/sync) and returns the pending pull commands. It
   * rejects with code "offline" (409) when the terminal is not connected.
   */
  sync(id: TerminalID, options: RequestOptions = {}): Promise<SyncResult> {
    return this.#request<SyncResult>("POST", `/terminals/${seg(id)}/sync`, options);
  }

  /**
   * sendCommand pushes a command to an online terminal (POST
   * /terminals/{id}/commands) and returns it pending at once; read its
   * outcome with getCommand or waitForCommand. Rejects with code "offline"
   * (409) when the terminal is not connected.
   */
  sendCommand<R = unknown>(
    id: TerminalID,
    command: CommandName,
    params?: Record<string, unknown>,
    options: SendCommandOptions = {},
  ): Promise<Command<R>> {
    const body: Record<string, unknown> = { command };
    if (params !== undefined) body.params = params;
    if (options.timeoutSeconds !== undefined) body.timeoutSeconds = options.timeoutSeconds;
    return this.#request<Command<R>>("POST", `/terminals/${seg(id)}/commands`, { body, signal: options.signal });
  }

  /** getCommand returns a command with its current state (GET /terminals/{id}/commands/{requestId}). */
  getCommand<R = unknown>(id: TerminalID, requestId: string, options: RequestOptions = {}): Promise<Command<R>> {
    return this.#request<Command<R>>("GET", `/terminals/${seg(id)}/commands/${seg(requestId)}`, options);
  }

  /**
   * waitForCommand polls a command every intervalMs until it is no longer
   * pending and returns it: succeeded, failed or timed_out (the server
   * turns a pending command past its deadline into timed_out, so the wait
   * ends on its own). It rejects with code "wait_timeout" after timeoutMs.
   */
  async waitForCommand<R = unknown>(id: TerminalID, requestId: string, options: WaitOptions = {}): Promise<Command<R>> {
    const interval = Math.max(10, options.intervalMs ?? 500);
    const timeout = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    const giveUpAt = Date.now() + timeout;
    for (;;) {
      const c = await this.getCommand<R>(id, requestId, { signal: options.signal });
      if (c.state !== "pending") {
        return c;
      }
      const left = giveUpAt - Date.now();
      if (left <= 0) {
        const path = `/terminals/${seg(id)}/commands/${seg(requestId)}`;
        throw new EdgesyncError(0, "wait_timeout", `command ${requestId} of ${id} still pending after ${timeout} ms`, "GET", this.baseURL + path);
      }
      await sleep(Math.min(interval, left), options.signal);
    }
  }

  /**
   * runCommand sends a command and waits for its outcome; the returned
   * command's state is succeeded, failed or timed_out.
   */
  async runCommand<R = unknown>(
    id: TerminalID,
    command: CommandName,
    params?: Record<string, unknown>,
    options: SendCommandOptions & Omit<WaitOptions, "timeoutMs"> & { waitTimeoutMs?: number } = {},
  ): Promise<Command<R>> {
    const c = await this.sendCommand<R>(id, command, params, options);
    return this.waitForCommand<R>(id, c.requestId, { intervalMs: options.intervalMs, timeoutMs: options.waitTimeoutMs, signal: options.signal });
  }

  /**
   * updateConfig makes config the terminal's desired config (PUT
   * /terminals/{id}/config, which validates, versions and audits the change
   * and pushes a set_config command) and returns it with its delivery state,
   * pending at first. Follow the delivery with
   * `waitForCommand(id, desired.requestId)` or getTerminalConfig's
   * `desired`. Secret values sent back as the API masked them ("[redacted]")
   * keep their current value on the terminal. Rejects with code "offline"
   * (409) when the terminal is not connected; needs the operator role.
   */
  updateConfig(id: TerminalID, config: TerminalConfigData, options: RequestOptions = {}): Promise<DesiredConfig> {
    if (config === null || typeof config !== "object" || Array.isArray(config)) {
      return Promise.reject(new TypeError("updateConfig: config must be an object"));
    }
    return this.#request<DesiredConfig>("PUT", `/terminals/${seg(id)}/config`, { body: { config }, signal: options.signal });
  }

  /** getMe returns the caller as the API sees them: subject, role and groups (GET /me). */
  getMe(options: RequestOptions = {}): Promise<Me> {
    return this.#request<Me>("GET", "/me", options);
  }

  /**
   * createTerminal registers a terminal (POST /terminals) and returns its
   * first token, which is shown only this once (the API keeps a hash).
   * Rejects with code "exists" (409) for a taken id; needs the admin role.
   */
  createTerminal(terminal: NewTerminal, options: RequestOptions = {}): Promise<CreatedTerminal> {
    return this.#request<CreatedTerminal>("POST", "/terminals", { body: terminal, signal: options.signal });
  }

  /** listCredentials returns the terminal's tokens, without the tokens (GET /terminals/{id}/credentials); admin. */
  listCredentials(id: TerminalID, options: RequestOptions = {}): Promise<CredentialList> {
    return this.#request<CredentialList>("GET", `/terminals/${seg(id)}/credentials`, options);
  }

  /**
   * rotateCredentials issues a new token (POST /terminals/{id}/credentials/rotate),
   * shown only this once; the old tokens keep working for overlapSeconds
   * (default 86400, 0 ends them now). Admin.
   */
  rotateCredentials(id: TerminalID, params: { overlapSeconds?: number } = {}, options: RequestOptions = {}): Promise<RotatedToken> {
    return this.#request<RotatedToken>("POST", `/terminals/${seg(id)}/credentials/rotate`, { body: params, signal: options.signal });
  }

  /**
   * revokeCredentials ends one token by its credential id, or with no id
   * every token of the terminal (POST /terminals/{id}/credentials/revoke). Admin.
   */
  revokeCredentials(id: TerminalID, credentialId = "", options: RequestOptions = {}): Promise<RevokeResult> {
    const body = credentialId ? { credentialId } : {};
    return this.#request<RevokeResult>("POST", `/terminals/${seg(id)}/credentials/revoke`, { body, signal: options.signal });
  }

  /** getAuditTrail returns a page of the audit trail, newest first (GET /audit); admin. */
  getAuditTrail(query: AuditQuery = {}, options: RequestOptions = {}): Promise<AuditPage> {
    return this.#request<AuditPage>("GET", "/audit", { query: auditQuery(query), ...options });
  }

  /**
   * startRollout rolls spec out to the terminals of group in waves (PUT
   * /groups/{group}/config) and returns the rollout, its first wave sent.
   * Needs the operator role and the group among the caller's groups.
   */
  startRollout(group: string, spec: RolloutSpec, options: RequestOptions = {}): Promise<Rollout> {
    return this.#request<Rollout>("PUT", `/groups/${seg(group)}/config`, { body: spec, signal: options.signal });
  }

  /** listRollouts returns a page of the group's rollouts, newest first (GET /groups/{group}/rollouts). */
  listRollouts(group: string, params: { limit?: number; cursor?: string } = {}, options: RequestOptions = {}): Promise<RolloutPage> {
    return this.#request<RolloutPage>("GET", `/groups/${seg(group)}/rollouts`, { query: { ...params }, ...options });
  }

  /** getRollout returns one rollout with each wave's tallies (GET /groups/{group}/rollouts/{id}). */
  getRollout(group: string, id: string, options: RequestOptions = {}): Promise<Rollout> {
    return this.#request<Rollout>("GET", `/groups/${seg(group)}/rollouts/${seg(id)}`, options);
  }

  /** getRolloutWave returns one wave (index from 0) with each terminal's outcome (GET …/rollouts/{id}/waves/{index}). */
  getRolloutWave(group: string, id: string, index: number, options: RequestOptions = {}): Promise<RolloutWave> {
    return this.#request<RolloutWave>("GET", `/groups/${seg(group)}/rollouts/${seg(id)}/waves/${index}`, options);
  }

  /**
   * controlRollout pauses, resumes, cancels or rolls back a rollout (POST
   * …/rollouts/{id}/{action}) and returns it after; rejects with code
   * "conflict" (409) when its state does not allow that. Operator.
   */
  controlRollout(group: string, id: string, action: "pause" | "resume" | "cancel" | "rollback", options: RequestOptions = {}): Promise<Rollout> {
    return this.#request<Rollout>("POST", `/groups/${seg(group)}/rollouts/${seg(id)}/${action}`, options);
  }

  /**
   * searchLogs returns a page of the lines of every terminal the caller
   * sees, newest first, each with its terminal (GET /logs). Follow
   * nextCursor for more: a page may be short, even empty, with a cursor.
   */
  searchLogs(search: LogSearch = {}, options: RequestOptions = {}): Promise<SearchPage> {
    const time = (t: Date | string | undefined) => (t instanceof Date ? t.toISOString() : t);
    return this.#request<SearchPage>("GET", "/logs", { query: { ...search, since: time(search.since), until: time(search.until) }, ...options });
  }

  /** listAlerts returns a page of the alerts of the caller's groups (GET /alerts). */
  listAlerts(query: AlertQuery = {}, options: RequestOptions = {}): Promise<AlertPage> {
    return this.#request<AlertPage>("GET", "/alerts", { query: { ...query }, ...options });
  }

  /** listAlertRules returns a group's alert rules (GET /groups/{group}/alert-rules). */
  listAlertRules(group: string, options: RequestOptions = {}): Promise<{ group: string; rules: AlertRule[] }> {
    return this.#request("GET", `/groups/${seg(group)}/alert-rules`, options);
  }

  /** createAlertRule adds a rule to a group (POST /groups/{group}/alert-rules); operator of the group. */
  createAlertRule(group: string, rule: NewAlertRule, options: RequestOptions = {}): Promise<AlertRule> {
    return this.#request<AlertRule>("POST", `/groups/${seg(group)}/alert-rules`, { body: rule, signal: options.signal });
  }

  /** deleteAlertRule removes a group's rule and clears its alerts (DELETE /groups/{group}/alert-rules/{id}); operator of the group. */
  async deleteAlertRule(group: string, id: string, options: RequestOptions = {}): Promise<void> {
    await this.#request<undefined>("DELETE", `/groups/${seg(group)}/alert-rules/${seg(id)}`, options);
  }

  /**
   * acknowledgeAlert acknowledges an open alert (POST
   * /groups/{group}/alerts/{rule}/{terminal}/acknowledge); operator of the
   * group. Rejects with code "conflict" (409) when it is not open.
   */
  acknowledgeAlert(alert: Pick<Alert, "group" | "ruleId" | "terminalId">, options: RequestOptions = {}): Promise<Alert> {
    return this.#request<Alert>("POST", `/groups/${seg(alert.group)}/alerts/${seg(alert.ruleId)}/${seg(alert.terminalId)}/acknowledge`, options);
  }

  async #request<T>(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    opts: { query?: Record<string, unknown>; body?: unknown; signal?: AbortSignal } = {},
  ): Promise<T> {
    const url = this.baseURL + path + queryString(opts.query);
    const headers: Record<string, string> = { Accept: "application/json", ...this.#headers };
    if (this.#getAuthHeader) {
      const auth = await this.#getAuthHeader();
      if (auth) headers.Authorization = auth;
    }
    const init: RequestInit = { method, headers };
    if (opts.signal) init.signal = opts.signal;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await this.#fetch(url, init);
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      const why = err instanceof Error ? err.message : String(err);
      throw new EdgesyncError(0, "network", `cannot reach the API at ${this.baseURL} (${method} ${path}): ${why}`, method, url, { cause: err });
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      throw new EdgesyncError(res.status, "network", `${method} ${path}: reading the response failed`, method, url, { cause: err });
    }
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      if (isErrorBody(body)) {
        throw new EdgesyncError(res.status, body.code, body.message, method, url);
      }
      const gatewayMessage = messageOf(body);
      if (gatewayMessage !== undefined) {
        // API Gateway answers by itself (authorizer, throttling, routing) with {"message": "..."}.
        throw new EdgesyncError(res.status, codeForStatus(res.status), `${method} ${path}: ${gatewayMessage}`, method, url);
      }
      const what = text.trim().slice(0, 200) || res.statusText || "no body";
      throw new EdgesyncError(res.status, "unexpected_response", `${method} ${path}: HTTP ${res.status}: ${what}`, method, url);
    }
    if (res.status === 204 && method === "DELETE") {
      return undefined as T;
    }
    if (body === undefined || body === null || typeof body !== "object") {
      throw new EdgesyncError(res.status, "unexpected_response", `${method} ${path}: the answer is not the API's JSON (is ${this.baseURL} the edgesync HTTP API?)`, method, url);
    }
    return body as T;
  }
}

function seg(v: TerminalID): string {
  const s = String(v);
  if (s === "") {
    throw new TypeError("EdgesyncClient: an id must not be empty");
  }
  return encodeURIComponent(s);
}

function queryString(q: Record<string, unknown> | undefined): string {
  if (!q) return "";
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null || v === "") continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? "?" + s : "";
}

function auditQuery(q: AuditQuery): Record<string, unknown> {
  const time = (t: Date | string | undefined) => (t instanceof Date ? t.toISOString() : t);
  return { ...q, since: time(q.since), until: time(q.until) };
}

function isErrorBody(v: unknown): v is APIErrorBody {
  return v !== null && typeof v === "object" && typeof (v as APIErrorBody).code === "string" && typeof (v as APIErrorBody).message === "string";
}

function messageOf(v: unknown): string | undefined {
  if (v !== null && typeof v === "object" && typeof (v as { message?: unknown }).message === "string") {
    return (v as { message: string }).message;
  }
  return undefined;
}

/** codeForStatus names an error API Gateway answered without the API's code. */
function codeForStatus(status: number): string {
  switch (status) {
    case 400:
      return "invalid";
    case 401:
      return "unauthenticated";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 413:
      return "too_large";
    case 429:
      return "throttled";
    case 503:
      return "unavailable";
    case 504:
      return "timeout";
    default:
      return status >= 500 ? "internal" : "unexpected_response";
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
