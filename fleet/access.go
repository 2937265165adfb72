package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Access: who may do what. Every Service method a frontend or a tool calls
// takes the caller, a Principal, and applies the rules below itself: the
// role an operation needs (operation), which terminals the caller sees
// (Principal.Sees: a terminal it may not see answers exactly like an absent
// one), and what it sees of them (secrets masked unless it is an admin).
// The HTTP API only authenticates, parses and maps errors to statuses.

// Role is what a frontend user may do.
type Role string

// Roles, each including the ones before it.
const (
	// RoleViewer reads terminals, config, status, logs and commands.
	RoleViewer Role = "viewer"
	// RoleOperator also syncs, sends commands and changes config.
	RoleOperator Role = "operator"
	// RoleAdmin also creates and deletes terminals, manages credentials,
	// changes connection settings and what a terminal exposes
	// (protocol.AdminOnlyConfigKeys), reads the audit trail, sees every
	// terminal and sees secrets unmasked.
	RoleAdmin Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Kind says what a principal is.
type Kind string

// Kinds of principal.
const (
	// KindUser is a frontend user (the zero Kind): a subject, a role and
	// groups, from a verified token (PrincipalFromClaims).
	KindUser Kind = ""
	// KindTerminal is a terminal acting on its own connection: it holds no
	// role and sees only itself.
	KindTerminal Kind = "terminal"
	// KindSystem is the service's own actions and operator tools that hold
	// AWS credentials to the table (the CLI): it may do everything.
	KindSystem Kind = "system"
)

// Principal is the caller of a Service method.
type Principal struct {
	// Kind is KindUser (the zero value), KindTerminal or KindSystem.
	Kind Kind
	// Subject identifies the caller: the JWT "sub" of a user, the id of a
	// terminal, the name of a tool. Audit records name it as the actor.
	Subject string
	// Role is a user's role (RoleAdmin for the system, none for a terminal).
	Role Role
	// Groups are the terminal groups a user may see; admins see all.
	Groups []string
}

// System is the principal of the service's own actions and of operator
// tools that hold AWS credentials to the table (the CLI): an admin that
// sees every terminal, named name in audit records.
func System(name string) Principal {
	return Principal{Kind: KindSystem, Subject: name, Role: RoleAdmin}
}

// TerminalPrincipal is the principal of terminal id acting on its own
// connection: it sees that terminal only and may call no user operation.
func TerminalPrincipal(id string) Principal { return Principal{Kind: KindTerminal, Subject: id} }

// Can reports whether p holds at least role. A terminal holds none.
func (p Principal) Can(role Role) bool {
	if p.Kind == KindTerminal {
		return false
	}
	return p.Role.rank() >= role.rank() && p.Role.rank() > 0
}

// seesAll reports whether p sees every terminal (admins and the system).
func (p Principal) seesAll() bool { return p.Kind != KindTerminal && p.Can(RoleAdmin) }

// Sees reports whether p may see terminal t: admins and the system see
// every terminal, a terminal itself only, other users the terminals that
// share a group with them.
func (p Principal) Sees(t Terminal) bool {
	switch {
	case p.Kind == KindTerminal:
		return p.Subject != "" && t.ID == p.Subject
	case p.seesAll():
		return true
	case !p.Can(RoleViewer):
		return false
	}
	for _, g := range t.Groups {
		if slices.Contains(p.Groups, g) {
			return true
		}
	}
	return false
}

// SeesSecrets reports whether p sees secret values unmasked: admins and
// the system do; everyone else reads them as Masked.
func (p Principal) SeesSecrets() bool { return p.seesAll() }

// operation is something a caller asks of the service: its name (as audit
// records of denials name it) and the role it needs. This table is where
// roles are decided.
type operation struct {
	name string
	role Role
}

var (
	opCaller          = operation{"caller.read", RoleViewer}
	opListTerminals   = operation{"terminal.list", RoleViewer}
	opReadTerminal    = operation{"terminal.read", RoleViewer}
	opReadConfig      = operation{"config.read", RoleViewer}
	opReadStatus      = operation{"status.read", RoleViewer}
	opReadLogs        = operation{"logs.read", RoleViewer}
	opReadCommand     = operation{"command.read", RoleViewer}
	opSetConfig       = operation{AuditConfigSet, RoleOperator}
	opSendCommand     = operation{AuditCommand, RoleOperator}
	opSync            = operation{AuditSync, RoleOperator}
	opCreateTerminal  = operation{AuditTerminalCreate, RoleAdmin}
	opDeleteTerminal  = operation{AuditTerminalDelete, RoleAdmin}
	opListCredentials = operation{"credential.list", RoleAdmin}
	opRotateToken     = operation{AuditCredentialRotate, RoleAdmin}
	opRevokeToken     = operation{AuditCredentialRevoke, RoleAdmin}
	opReadAudit       = operation{"audit.read", RoleAdmin}
	// Fleet-wide log search and alerts (search.go, alerts.go); managing a
	// group's rules and acknowledging its alerts also needs membership of
	// the group.
	opSearchLogs       = operation{"logs.search", RoleViewer}
	opReadAlerts       = operation{"alert.read", RoleViewer}
	opManageAlertRules = operation{"alert.rule.write", RoleOperator}
	opAcknowledgeAlert = operation{AuditAlertAck, RoleOperator}
)

// allow returns nil if p holds the role op needs. Otherwise it audits the
// denial and returns ErrForbidden, saying which role op needs.
func (s *Service) allow(ctx context.Context, p Principal, op operation, terminalID string) error {
	if p.Can(op.role) {
		return nil
	}
	role := string(p.Role)
	if role == "" || p.Kind == KindTerminal {
		role = "none"
	}
	s.deny(ctx, p, op, terminalID, "role "+role+" may not do this; it needs "+string(op.role))
	return fmt.Errorf("this needs the %s role: %w", op.role, ErrForbidden)
}

// visible reads terminal id for p: the one read of the terminal a request
// makes. ErrInvalid for a malformed id. A terminal p may not see is
// ErrNotFound with the same error as an absent one, so no answer tells
// them apart; for a caller who does not see every terminal both are
// audited as a denial (the same work either way).
func (s *Service) visible(ctx context.Context, p Principal, op operation, id string) (Terminal, error) {
	if !protocol.ValidID(id) {
		return Terminal{}, fmt.Errorf("terminal id %q: %w", truncate(id, 64), ErrInvalid)
	}
	t, err := s.store.Terminal(ctx, id)
	absent := errors.Is(err, ErrNotFound)
	if err != nil && !absent {
		return Terminal{}, fmt.Errorf("terminal %s: %w", id, err)
	}
	if !absent && p.Sees(t) {
		return t, nil
	}
	if !p.seesAll() {
		reason := "no such terminal"
		if !absent {
			reason = "terminal is outside the user's groups"
		}
		s.deny(ctx, p, op, id, reason)
	}
	return Terminal{}, fmt.Errorf("no terminal %s: %w", id, ErrNotFound)
}

// access is allow then visible: the role check, then the terminal read.
func (s *Service) access(ctx context.Context, p Principal, op operation, id string) (Terminal, error) {
	if err := s.allow(ctx, p, op, id); err != nil {
		return Terminal{}, err
	}
	return s.visible(ctx, p, op, id)
}

type requestKey struct{}

type request struct{ method, path string }

// WithRequest returns ctx carrying the method and path of the HTTP request
// a call serves; audit records of denied calls name them.
func WithRequest(ctx context.Context, method, path string) context.Context {
	return context.WithValue(ctx, requestKey{}, request{method: method, path: path})
}

// deny audits a refused call (best effort: the refusal stands either way).
// Repeated denials are coalesced so that no caller can flood the trail:
// every denial of one actor's operation for one reason within a
// denialWindow is one fleet-wide record (denialID), holding the first
// denial's time (detail "firstAt"), request and terminal; its At is the
// window's start. What repeats lose is said in SECURITY.md.
func (s *Service) deny(ctx context.Context, p Principal, op operation, terminalID, reason string) {
	now := s.now()
	window := now.Truncate(denialWindow)
	actor := truncate(p.Subject, maxAuditNameBytes)
	id := denialID(window, actor, op.name, reason)
	if s.denials.seen(id) {
		return
	}
	detail := map[string]string{"operation": op.name, "reason": reason, "firstAt": now.UTC().Format(time.RFC3339Nano)}
	if r, ok := ctx.Value(requestKey{}).(request); ok {
		detail["method"], detail["path"] = truncate(r.method, 16), truncate(r.path, 512)
	}
	if terminalID != "" {
		detail["terminal"] = truncate(terminalID, 128)
	}
	rec := AuditRecord{ID: id, At: window, Action: AuditRequestDenied, Outcome: AuditOutcomeDenied}
	if s.putAudit(ctx, p, rec, detail) == nil {
		s.denials.add(id)
	}
}

// CallerView is a principal as it is shown to itself (GET /me).
type CallerView struct {
	Subject string   `json:"subject"`
	Role    Role     `json:"role"`
	Groups  []string `json:"groups"`
}

// Caller returns p as the API shows it to p. It needs the viewer role.
func (s *Service) Caller(ctx context.Context, p Principal) (CallerView, error) {
	if err := s.allow(ctx, p, opCaller, ""); err != nil {
		return CallerView{}, err
	}
	groups := p.Groups
	if groups == nil {
		groups = []string{}
	}
	return CallerView{Subject: p.Subject, Role: p.Role, Groups: groups}, nil
}

// ClaimsConfig names the JWT claims that carry a user's role and groups.
type ClaimsConfig struct {
	// RoleClaim holds the role, or a list in which the highest role name
	// (admin, operator, viewer, matched exactly) counts. Default
	// "cognito:groups".
	RoleClaim string
	// GroupsClaim holds the user's terminal groups (a list; values that
	// are role names are roles, never groups). Default "cognito:groups".
	GroupsClaim string
}

// PrincipalFromClaims builds the principal of a verified JWT's claims, as
// API Gateway's JWT authorizer passes them. A claim is read by its real
// shapes only (ClaimValues): a list claim as API Gateway renders it
// ("[a b]"), a JSON array of strings, or a plain string that is one value
// ("plant-1,admin" is one group of that name, not two). Role names are
// matched exactly and case-sensitively ("Admin" is no role), and a value
// that is a role name is a role, never also a group. A token without a
// subject or without a role is ErrForbidden.
func PrincipalFromClaims(claims map[string]string, cfg ClaimsConfig) (Principal, error) {
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "cognito:groups"
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "cognito:groups"
	}
	p := Principal{Subject: claims["sub"]}
	if p.Subject == "" {
		return Principal{}, fmt.Errorf("token has no subject: %w", ErrForbidden)
	}
	for _, v := range ClaimValues(claims[cfg.RoleClaim]) {
		if r := Role(v); r.rank() > p.Role.rank() {
			p.Role = r
		}
	}
	if p.Role == "" {
		return Principal{}, fmt.Errorf("token of %s grants no edgesync role (claim %q: want admin, operator or viewer): %w", truncate(p.Subject, 128), cfg.RoleClaim, ErrForbidden)
	}
	for _, v := range ClaimValues(claims[cfg.GroupsClaim]) {
		if Role(v).rank() == 0 && !slices.Contains(p.Groups, v) {
			p.Groups = append(p.Groups, v)
		}
	}
	return p, nil
}

// ClaimValues returns the values of a claim as API Gateway's JWT
// authorizer passes it (every claim as a string):
//
//   - a JSON array of strings, `["a","b"]`: its elements;
//   - API Gateway's rendering of a list claim, "[a b]": the values
//     between the brackets, separated by single spaces. A list element
//     holding a space cannot be told apart from two elements, so group
//     names must not hold whitespace (Cognito's never do); a rendering
//     that shows an element began or ended with one (a space next to a
//     bracket or another space) is refused whole: no values;
//   - anything else: the whole string is one value ("a,b" is one value).
//
// Values are kept exactly, never trimmed or case-folded; empty JSON
// elements are dropped.
func ClaimValues(v string) []string {
	if v == "" {
		return nil
	}
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		var arr []string
		if json.Unmarshal([]byte(v), &arr) == nil {
			return nonEmpty(arr)
		}
		inner := v[1 : len(v)-1]
		if inner == "" {
			return nil
		}
		parts := strings.Split(inner, " ")
		if slices.Contains(parts, "") {
			return nil
		}
		return parts
	}
	return []string{v}
}

func nonEmpty(vs []string) []string {
	out := vs[:0]
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// IsSecretKey reports whether a config key holds a secret: the one rule,
// protocol.IsSecretKey, that the agent and the dashboard apply too.
func IsSecretKey(key string) bool { return protocol.IsSecretKey(key) }

// Masked replaces secret values (protocol.Redacted: sent back in a
// set_config, it keeps the terminal's current value).
const Masked = protocol.Redacted

// MaskSecrets returns doc with the value of every key that looks secret,
// at any depth and whatever its type, replaced by Masked. Input that is not JSON is returned
// masked whole.
func MaskSecrets(doc json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(doc)) == 0 || string(doc) == "null" {
		return doc
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage(`"` + Masked + `"`)
	}
	out, err := json.Marshal(mask(v))
	if err != nil {
		return json.RawMessage(`"` + Masked + `"`)
	}
	return out
}

func mask(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if IsSecretKey(k) {
				// The whole value: {"token": {"value": "…"}} hides a secret
				// under a key that does not look like one.
				x[k] = Masked
				continue
			}
			x[k] = mask(val)
		}
		return x
	case []any:
		for i := range x {
			x[i] = mask(x[i])
		}
		return x
	}
	return v
}

// The views below are what p may see of a document, a command, log lines
// and a terminal record: unchanged for those who see secrets, masked by
// MaskSecrets (IsSecretKey) for everyone else.

func (p Principal) document(doc json.RawMessage) json.RawMessage {
	if p.SeesSecrets() {
		return doc
	}
	return MaskSecrets(doc)
}

func (p Principal) command(c Command) Command {
	c.Params, c.Result = p.document(c.Params), p.document(c.Result)
	return c
}

func (p Principal) commands(cs []Command) []Command {
	for i := range cs {
		cs[i] = p.command(cs[i])
	}
	return cs
}

// entries masks the values of log attributes under secret keys.
func (p Principal) entries(es []protocol.LogEntry) []protocol.LogEntry {
	if p.SeesSecrets() {
		return es
	}
	for i := range es {
		if len(es[i].Attrs) == 0 {
			continue
		}
		attrs := maps.Clone(es[i].Attrs)
		for k := range attrs {
			if IsSecretKey(k) {
				attrs[k] = Masked
			}
		}
		es[i].Attrs = attrs
	}
	return es
}

// terminal is the record as p may hold it: credentials (hashes) only for
// those who see secrets, documents masked.
func (p Principal) terminal(t Terminal) Terminal {
	if p.SeesSecrets() {
		return t
	}
	t.Credentials = nil
	t.Config.Data = MaskSecrets(t.Config.Data)
	t.Status.Data = MaskSecrets(t.Status.Data)
	t.Desired.Data = MaskSecrets(t.Desired.Data)
	return t
}
