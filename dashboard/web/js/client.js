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
/** hasRole reports whether role includes want (admin ⊇ operator ⊇ viewer). */
export function hasRole(role, want) {
    const rank = (r) => (r === "admin" ? 3 : r === "operator" ? 2 : r === "viewer" ? 1 : 0);
    return rank(role) > 0 && rank(role) >= rank(want);
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
    status;
    /** code is the machine-readable error code. */
    code;
    /** method and url say which request failed. */
    method;
    url;
    constructor(status, code, message, method, url, options) {
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
export function isSecretKey(key) {
    const words = keyWords(key);
    if (words.length === 0 || LOCATION_WORDS.has(words[words.length - 1])) {
        return false;
    }
    return words.some((w) => SECRET_WORD_PARTS.some((part) => w.includes(part)) || w === "pem" || w.endsWith("key") || w.endsWith("keys"));
}
// Character classes as Go's unicode package defines them: IsLetter (L),
// IsDigit (Nd), IsUpper (Lu), IsLower (Ll).
const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
const UPPER = /^\p{Lu}$/u;
const LOWER = /^\p{Ll}$/u;
/** keyWords splits a key into lower-case words, code point by code point as protocol.keyWords does. */
function keyWords(key) {
    const words = [];
    let cur = [];
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
            }
            else if (UPPER.test(r) && LOWER.test(prev)) {
                flush();
            }
            else if (UPPER.test(r) && UPPER.test(prev) && i + 1 < rs.length && LOWER.test(rs[i + 1])) {
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
function lowerRune(r) {
    return r === "\u0130" ? "i" : r.toLowerCase();
}
/**
 * maskSecrets returns a copy of value in which the value of every object
 * key that isSecretKey names (at any depth, whatever the value) is replaced
 * by mask (MASK unless given; REDACTED for a config that will be sent back).
 * null and empty strings stay as they are: they hide nothing.
 */
export function maskSecrets(value, mask = MASK) {
    const walk = (v) => {
        if (Array.isArray(v)) {
            return v.map(walk);
        }
        if (v !== null && typeof v === "object") {
            const out = {};
            for (const [k, inner] of Object.entries(v)) {
                out[k] = isSecretKey(k) && inner !== null && inner !== "" ? mask : walk(inner);
            }
            return out;
        }
        return v;
    };
    return walk(value);
}
/** DEFAULT_WAIT_TIMEOUT_MS is waitForCommand's default bound. */
const DEFAULT_WAIT_TIMEOUT_MS = 330_000;
/**
 * EdgesyncClient calls the edgesync HTTP API. Every method rejects with an
 * EdgesyncError when the API answers with an error or cannot be reached.
 */
export class EdgesyncClient {
    /** baseURL is the API root without a trailing slash. */
    baseURL;
    #headers;
    #getAuthHeader;
    #fetch;
    constructor(options) {
        if (!options || typeof options.baseURL !== "string" || options.baseURL.trim() === "") {
            throw new TypeError("EdgesyncClient: baseURL is required, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com");
        }
        let parsed;
        try {
            parsed = new URL(options.baseURL.trim());
        }
        catch {
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
    listTerminals(params = {}, options = {}) {
        return this.#request("GET", "/terminals", { query: { ...params }, ...options });
    }
    /** listAllTerminals follows nextCursor and returns every terminal. */
    async listAllTerminals(options = {}) {
        const all = [];
        let cursor = "";
        do {
            const page = await this.listTerminals({ limit: options.pageSize ?? 500, ...(cursor ? { cursor } : {}) }, options);
            all.push(...page.terminals);
            cursor = page.nextCursor;
        } while (cursor);
        return all;
    }
    /** getTerminal returns one terminal (GET /terminals/{id}). */
    getTerminal(id, options = {}) {
        return this.#request("GET", `/terminals/${seg(id)}`, options);
    }
    /**
     * getTerminalConfig returns the terminal's last reported config with its
     * freshness (GET /terminals/{id}/config/) and, once one was set with
     * updateConfig, the desired config and its delivery state. Secrets arrive
     * masked unless the caller is an admin; pass the data through maskSecrets
     * before showing it anyway.
     */
    getTerminalConfig(id, options = {}) {
        return this.#request("GET", `/terminals/${seg(id)}/config/`, options);
    }
    /** getTerminalStatus returns the terminal's last reported status with its freshness (GET /terminals/{id}/status/). */
    getTerminalStatus(id, options = {}) {
        return this.#request("GET", `/terminals/${seg(id)}/status/`, options);
    }
    /** getTerminalLogs reads log lines (GET /terminals/{id}/logs/); see LogQuery for the two directions. */
    getTerminalLogs(id, params = {}, options = {}) {
        return this.#request("GET", `/terminals/${seg(id)}/logs/`, { query: params, ...options });
    }
    /** getStatusHistory returns status samples, oldest first (GET /terminals/{id}/status/history). */
    getStatusHistory(id, params = {}, options = {}) {
        const since = params.since instanceof Date ? params.since.toISOString() : params.since;
        return this.#request("GET", `/terminals/${seg(id)}/status/history`, {
            query: { since, limit: params.limit },
            ...options,
        });
    }
    /**
     * sync asks an online terminal for fresh status, config and new logs
     * (POST /terminals/{id}/sync) and returns the pending pull commands. It
     * rejects with code "offline" (409) when the terminal is not connected.
     */
    sync(id, options = {}) {
        return this.#request("POST", `/terminals/${seg(id)}/sync`, options);
    }
    /**
     * sendCommand pushes a command to an online terminal (POST
     * /terminals/{id}/commands) and returns it pending at once; read its
     * outcome with getCommand or waitForCommand. Rejects with code "offline"
     * (409) when the terminal is not connected.
     */
    sendCommand(id, command, params, options = {}) {
        const body = { command };
        if (params !== undefined)
            body.params = params;
        if (options.timeoutSeconds !== undefined)
            body.timeoutSeconds = options.timeoutSeconds;
        return this.#request("POST", `/terminals/${seg(id)}/commands`, { body, signal: options.signal });
    }
    /** getCommand returns a command with its current state (GET /terminals/{id}/commands/{requestId}). */
    getCommand(id, requestId, options = {}) {
        return this.#request("GET", `/terminals/${seg(id)}/commands/${seg(requestId)}`, options);
    }
    /**
     * waitForCommand polls a command every intervalMs until it is no longer
     * pending and returns it: succeeded, failed or timed_out (the server
     * turns a pending command past its deadline into timed_out, so the wait
     * ends on its own). It rejects with code "wait_timeout" after timeoutMs.
     */
    async waitForCommand(id, requestId, options = {}) {
        const interval = Math.max(10, options.intervalMs ?? 500);
        const timeout = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
        const giveUpAt = Date.now() + timeout;
        for (;;) {
            const c = await this.getCommand(id, requestId, { signal: options.signal });
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
    async runCommand(id, command, params, options = {}) {
        const c = await this.sendCommand(id, command, params, options);
        return this.waitForCommand(id, c.requestId, { intervalMs: options.intervalMs, timeoutMs: options.waitTimeoutMs, signal: options.signal });
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
    updateConfig(id, config, options = {}) {
        if (config === null || typeof config !== "object" || Array.isArray(config)) {
            return Promise.reject(new TypeError("updateConfig: config must be an object"));
        }
        return this.#request("PUT", `/terminals/${seg(id)}/config`, { body: { config }, signal: options.signal });
    }
    /** getMe returns the caller as the API sees them: subject, role and groups (GET /me). */
    getMe(options = {}) {
        return this.#request("GET", "/me", options);
    }
    /**
     * createTerminal registers a terminal (POST /terminals) and returns its
     * first token, which is shown only this once (the API keeps a hash).
     * Rejects with code "exists" (409) for a taken id; needs the admin role.
     */
    createTerminal(terminal, options = {}) {
        return this.#request("POST", "/terminals", { body: terminal, signal: options.signal });
    }
    /** listCredentials returns the terminal's tokens, without the tokens (GET /terminals/{id}/credentials); admin. */
    listCredentials(id, options = {}) {
        return this.#request("GET", `/terminals/${seg(id)}/credentials`, options);
    }
    /**
     * rotateCredentials issues a new token (POST /terminals/{id}/credentials/rotate),
     * shown only this once; the old tokens keep working for overlapSeconds
     * (default 86400, 0 ends them now). Admin.
     */
    rotateCredentials(id, params = {}, options = {}) {
        return this.#request("POST", `/terminals/${seg(id)}/credentials/rotate`, { body: params, signal: options.signal });
    }
    /**
     * revokeCredentials ends one token by its credential id, or with no id
     * every token of the terminal (POST /terminals/{id}/credentials/revoke). Admin.
     */
    revokeCredentials(id, credentialId = "", options = {}) {
        const body = credentialId ? { credentialId } : {};
        return this.#request("POST", `/terminals/${seg(id)}/credentials/revoke`, { body, signal: options.signal });
    }
    /** getAuditTrail returns a page of the audit trail, newest first (GET /audit); admin. */
    getAuditTrail(query = {}, options = {}) {
        return this.#request("GET", "/audit", { query: auditQuery(query), ...options });
    }
    /**
     * startRollout rolls spec out to the terminals of group in waves (PUT
     * /groups/{group}/config) and returns the rollout, its first wave sent.
     * Needs the operator role and the group among the caller's groups.
     */
    startRollout(group, spec, options = {}) {
        return this.#request("PUT", `/groups/${seg(group)}/config`, { body: spec, signal: options.signal });
    }
    /** listRollouts returns a page of the group's rollouts, newest first (GET /groups/{group}/rollouts). */
    listRollouts(group, params = {}, options = {}) {
        return this.#request("GET", `/groups/${seg(group)}/rollouts`, { query: { ...params }, ...options });
    }
    /** getRollout returns one rollout with each wave's tallies (GET /groups/{group}/rollouts/{id}). */
    getRollout(group, id, options = {}) {
        return this.#request("GET", `/groups/${seg(group)}/rollouts/${seg(id)}`, options);
    }
    /** getRolloutWave returns one wave (index from 0) with each terminal's outcome (GET …/rollouts/{id}/waves/{index}). */
    getRolloutWave(group, id, index, options = {}) {
        return this.#request("GET", `/groups/${seg(group)}/rollouts/${seg(id)}/waves/${index}`, options);
    }
    /**
     * controlRollout pauses, resumes, cancels or rolls back a rollout (POST
     * …/rollouts/{id}/{action}) and returns it after; rejects with code
     * "conflict" (409) when its state does not allow that. Operator.
     */
    controlRollout(group, id, action, options = {}) {
        return this.#request("POST", `/groups/${seg(group)}/rollouts/${seg(id)}/${action}`, options);
    }
    /**
     * searchLogs returns a page of the lines of every terminal the caller
     * sees, newest first, each with its terminal (GET /logs). Follow
     * nextCursor for more: a page may be short, even empty, with a cursor.
     */
    searchLogs(search = {}, options = {}) {
        const time = (t) => (t instanceof Date ? t.toISOString() : t);
        return this.#request("GET", "/logs", { query: { ...search, since: time(search.since), until: time(search.until) }, ...options });
    }
    /** listAlerts returns a page of the alerts of the caller's groups (GET /alerts). */
    listAlerts(query = {}, options = {}) {
        return this.#request("GET", "/alerts", { query: { ...query }, ...options });
    }
    /** listAlertRules returns a group's alert rules (GET /groups/{group}/alert-rules). */
    listAlertRules(group, options = {}) {
        return this.#request("GET", `/groups/${seg(group)}/alert-rules`, options);
    }
    /** createAlertRule adds a rule to a group (POST /groups/{group}/alert-rules); operator of the group. */
    createAlertRule(group, rule, options = {}) {
        return this.#request("POST", `/groups/${seg(group)}/alert-rules`, { body: rule, signal: options.signal });
    }
    /** deleteAlertRule removes a group's rule and clears its alerts (DELETE /groups/{group}/alert-rules/{id}); operator of the group. */
    async deleteAlertRule(group, id, options = {}) {
        await this.#request("DELETE", `/groups/${seg(group)}/alert-rules/${seg(id)}`, options);
    }
    /**
     * acknowledgeAlert acknowledges an open alert (POST
     * /groups/{group}/alerts/{rule}/{terminal}/acknowledge); operator of the
     * group. Rejects with code "conflict" (409) when it is not open.
     */
    acknowledgeAlert(alert, options = {}) {
        return this.#request("POST", `/groups/${seg(alert.group)}/alerts/${seg(alert.ruleId)}/${seg(alert.terminalId)}/acknowledge`, options);
    }
    async #request(method, path, opts = {}) {
        const url = this.baseURL + path + queryString(opts.query);
        const headers = { Accept: "application/json", ...this.#headers };
        if (this.#getAuthHeader) {
            const auth = await this.#getAuthHeader();
            if (auth)
                headers.Authorization = auth;
        }
        const init = { method, headers };
        if (opts.signal)
            init.signal = opts.signal;
        if (opts.body !== undefined) {
            headers["Content-Type"] = "application/json";
            init.body = JSON.stringify(opts.body);
        }
        let res;
        try {
            res = await this.#fetch(url, init);
        }
        catch (err) {
            if (opts.signal?.aborted)
                throw opts.signal.reason ?? err;
            const why = err instanceof Error ? err.message : String(err);
            throw new EdgesyncError(0, "network", `cannot reach the API at ${this.baseURL} (${method} ${path}): ${why}`, method, url, { cause: err });
        }
        let text;
        try {
            text = await res.text();
        }
        catch (err) {
            if (opts.signal?.aborted)
                throw opts.signal.reason ?? err;
            throw new EdgesyncError(res.status, "network", `${method} ${path}: reading the response failed`, method, url, { cause: err });
        }
        let body;
        try {
            body = text === "" ? undefined : JSON.parse(text);
        }
        catch {
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
            return undefined;
        }
        if (body === undefined || body === null || typeof body !== "object") {
            throw new EdgesyncError(res.status, "unexpected_response", `${method} ${path}: the answer is not the API's JSON (is ${this.baseURL} the edgesync HTTP API?)`, method, url);
        }
        return body;
    }
}
function seg(v) {
    const s = String(v);
    if (s === "") {
        throw new TypeError("EdgesyncClient: an id must not be empty");
    }
    return encodeURIComponent(s);
}
function queryString(q) {
    if (!q)
        return "";
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) {
        if (v === undefined || v === null || v === "")
            continue;
        p.set(k, String(v));
    }
    const s = p.toString();
    return s ? "?" + s : "";
}
function auditQuery(q) {
    const time = (t) => (t instanceof Date ? t.toISOString() : t);
    return { ...q, since: time(q.since), until: time(q.until) };
}
function isErrorBody(v) {
    return v !== null && typeof v === "object" && typeof v.code === "string" && typeof v.message === "string";
}
function messageOf(v) {
    if (v !== null && typeof v === "object" && typeof v.message === "string") {
        return v.message;
    }
    return undefined;
}
/** codeForStatus names an error API Gateway answered without the API's code. */
function codeForStatus(status) {
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
function sleep(ms, signal) {
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
