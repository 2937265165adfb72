package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/edgesync/edgesync/protocol"
)

// Role is what a frontend user may do.
type Role string

// Roles, each including the ones before it.
const (
	// RoleViewer reads terminals, config, status, logs and commands.
	RoleViewer Role = "viewer"
	// RoleOperator also syncs, sends commands and changes config.
	RoleOperator Role = "operator"
	// RoleAdmin also manages credentials, reads the audit trail, sees
	// every terminal and sees secrets unmasked.
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

// Principal is an authenticated caller of the HTTP API.
type Principal struct {
	// Subject identifies the user (the JWT "sub", or a name for tools).
	Subject string
	Role    Role
	// Groups are the terminal groups the user may see; admins see all.
	Groups []string
}

// System is the principal of the service's own actions and of operator
// tools that hold AWS credentials to the table (the CLI).
func System(name string) Principal { return Principal{Subject: name, Role: RoleAdmin} }

// Can reports whether p holds at least role.
func (p Principal) Can(role Role) bool { return p.Role.rank() >= role.rank() && p.Role.rank() > 0 }

// Sees reports whether p may see terminal t: admins see every terminal,
// others the terminals that share a group with them.
func (p Principal) Sees(t Terminal) bool {
	if p.Can(RoleAdmin) {
		return true
	}
	if !p.Can(RoleViewer) {
		return false
	}
	for _, g := range t.Groups {
		if slices.Contains(p.Groups, g) {
			return true
		}
	}
	return false
}

// ClaimsConfig names the JWT claims that carry a user's role and groups.
type ClaimsConfig struct {
	// RoleClaim holds the role, or a list in which the highest recognised
	// role name (admin, operator, viewer) counts. Default "cognito:groups".
	RoleClaim string
	// GroupsClaim holds the user's terminal groups (a list; role names in it
	// are ignored). Default "cognito:groups".
	GroupsClaim string
}

// PrincipalFromClaims builds the principal of a verified JWT's claims, as
// API Gateway's JWT authorizer passes them (list claims arrive as strings
// like "[a b]" or "[a, b]"; a JSON array is accepted too). A token without
// a subject or without a recognised role is ErrForbidden.
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
	for _, v := range claimList(claims[cfg.RoleClaim]) {
		if r := Role(strings.ToLower(v)); r.rank() > p.Role.rank() {
			p.Role = r
		}
	}
	if p.Role == "" {
		return Principal{}, fmt.Errorf("token of %s grants no edgesync role (claim %q: want admin, operator or viewer): %w", p.Subject, cfg.RoleClaim, ErrForbidden)
	}
	for _, v := range claimList(claims[cfg.GroupsClaim]) {
		if Role(strings.ToLower(v)).rank() == 0 && !slices.Contains(p.Groups, v) {
			p.Groups = append(p.Groups, v)
		}
	}
	return p, nil
}

// claimList splits a claim value: "[a b]", "[a, b]", `["a","b"]`, "a,b" or "a".
func claimList(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") {
		var arr []string
		if json.Unmarshal([]byte(v), &arr) == nil {
			return arr
		}
		v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	}
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
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

// Visible returns the terminal if p may see it: ErrNotFound if it does not
// exist, ErrForbidden (audited) if it is outside p's groups.
func (s *Service) Visible(ctx context.Context, p Principal, id, method, path string) (Terminal, error) {
	t, err := s.lookup(ctx, id)
	if err != nil {
		return Terminal{}, err
	}
	if !p.Sees(t) {
		return Terminal{}, s.Deny(ctx, p, t.ID, method, path, "terminal is outside the user's groups")
	}
	return t, nil
}
