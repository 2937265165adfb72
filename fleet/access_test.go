package fleet_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/fleet"
)

func TestPrincipalFromClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claims map[string]string
		cfg    fleet.ClaimsConfig
		want   fleet.Principal
		err    bool
	}{
		{"cognito groups as API Gateway passes them", map[string]string{"sub": "u1", "cognito:groups": "[operator line-1 line-2]"}, fleet.ClaimsConfig{},
			fleet.Principal{Subject: "u1", Role: fleet.RoleOperator, Groups: []string{"line-1", "line-2"}}, false},
		{"highest role wins", map[string]string{"sub": "u1", "cognito:groups": "[viewer admin]"}, fleet.ClaimsConfig{},
			fleet.Principal{Subject: "u1", Role: fleet.RoleAdmin}, false},
		{"JSON list", map[string]string{"sub": "u1", "cognito:groups": `["viewer","hall"]`}, fleet.ClaimsConfig{},
			fleet.Principal{Subject: "u1", Role: fleet.RoleViewer, Groups: []string{"hall"}}, false},
		{"plain string claims are one value each", map[string]string{"sub": "u1", "role": "operator", "groups": "hall-a"}, fleet.ClaimsConfig{RoleClaim: "role", GroupsClaim: "groups"},
			fleet.Principal{Subject: "u1", Role: fleet.RoleOperator, Groups: []string{"hall-a"}}, false},
		{"no role", map[string]string{"sub": "u1", "cognito:groups": "[line-1]"}, fleet.ClaimsConfig{}, fleet.Principal{}, true},
		{"unknown role", map[string]string{"sub": "u1", "cognito:groups": "[root]"}, fleet.ClaimsConfig{}, fleet.Principal{}, true},
		{"no subject", map[string]string{"cognito:groups": "[admin]"}, fleet.ClaimsConfig{}, fleet.Principal{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fleet.PrincipalFromClaims(tt.claims, tt.cfg)
			if (err != nil) != tt.err {
				t.Fatalf("error: got %v, want error %v", err, tt.err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestHostileGroupClaims: a group whose name merely looks like a list or
// like a role grants nothing. Each claim value is what a user in groups
// an IdP let someone name reaches the service with (the role and groups
// claim being the same, Cognito's default).
func TestHostileGroupClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claim  string
		role   fleet.Role // "" means refused: no role
		groups []string
	}{
		{"comma-joined plain string", "plant-1,admin", "", nil},
		{"space-joined plain string", "plant-1 admin", "", nil},
		{"comma-joined in a viewer's list", "[viewer plant-1,admin]", fleet.RoleViewer, []string{"plant-1,admin"}},
		{"role name in another case", "[viewer Admin]", fleet.RoleViewer, []string{"Admin"}},
		{"role name alone in another case", "ADMIN", "", nil},
		{"role name with a trailing space in JSON", `["viewer","admin "]`, fleet.RoleViewer, []string{"admin "}},
		{"role name with a leading space in JSON", `["viewer"," admin"]`, fleet.RoleViewer, []string{" admin"}},
		{"role name with a trailing space as API Gateway renders it", "[viewer admin ]", "", nil},
		{"role name with a leading space as API Gateway renders it", "[viewer  admin]", "", nil},
		{"JSON array as a plain string value", `["plant-1","admin"`, "", nil},
		{"brackets inside a group name", "[viewer [admin]]", fleet.RoleViewer, []string{"[admin]"}},
		{"nested JSON list", `[["admin"]]`, "", nil},
		{"quoted role name", `"admin"`, "", nil},
		{"role name with a suffix", "[viewer admin2 administrator]", fleet.RoleViewer, []string{"admin2", "administrator"}},
		{"role names are roles, not groups", "[operator viewer hall]", fleet.RoleOperator, []string{"hall"}},
		{"empty list", "[]", "", nil},
		{"empty claim", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fleet.PrincipalFromClaims(map[string]string{"sub": "mallory", "cognito:groups": tt.claim}, fleet.ClaimsConfig{})
			if tt.role == "" {
				if err == nil {
					t.Fatalf("claim %q: got %+v, want refused (no role)", tt.claim, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("claim %q: %v, want role %s", tt.claim, err, tt.role)
			}
			if got.Role != tt.role || fmt.Sprint(got.Groups) != fmt.Sprint(tt.groups) {
				t.Errorf("claim %q: role %s groups %q, want role %s groups %q", tt.claim, got.Role, got.Groups, tt.role, tt.groups)
			}
		})
	}
}

func TestPrincipalSees(t *testing.T) {
	t.Parallel()
	term := fleet.Terminal{ID: "t", Groups: []string{"line-1"}}
	tests := []struct {
		p    fleet.Principal
		want bool
	}{
		{fleet.Principal{Role: fleet.RoleAdmin}, true},
		{fleet.Principal{Role: fleet.RoleViewer, Groups: []string{"line-1"}}, true},
		{fleet.Principal{Role: fleet.RoleOperator, Groups: []string{"line-2"}}, false},
		{fleet.Principal{Groups: []string{"line-1"}}, false},
		{fleet.Principal{Role: "root", Groups: []string{"line-1"}}, false},
	}
	for _, tt := range tests {
		if got := tt.p.Sees(term); got != tt.want {
			t.Errorf("%+v sees a line-1 terminal: got %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestPrincipalKinds(t *testing.T) {
	t.Parallel()
	own := fleet.Terminal{ID: "t", Groups: []string{"line-1"}}
	other := fleet.Terminal{ID: "u", Groups: []string{"line-1"}}
	tests := []struct {
		name               string
		p                  fleet.Principal
		viewer, admin      bool
		seesOwn, seesOther bool
		seesSecrets        bool
	}{
		{"system", fleet.System("cli:ops"), true, true, true, true, true},
		{"terminal", fleet.TerminalPrincipal("t"), false, false, true, false, false},
		{"terminal claiming a role", fleet.Principal{Kind: fleet.KindTerminal, Subject: "t", Role: fleet.RoleAdmin}, false, false, true, false, false},
		{"terminal without an id", fleet.TerminalPrincipal(""), false, false, false, false, false},
		{"admin user", fleet.Principal{Subject: "a", Role: fleet.RoleAdmin}, true, true, true, true, true},
		{"operator user", fleet.Principal{Subject: "o", Role: fleet.RoleOperator, Groups: []string{"line-1"}}, true, false, true, true, false},
		{"zero principal", fleet.Principal{}, false, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			got := []bool{p.Can(fleet.RoleViewer), p.Can(fleet.RoleAdmin), p.Sees(own), p.Sees(other), p.SeesSecrets()}
			want := []bool{tt.viewer, tt.admin, tt.seesOwn, tt.seesOther, tt.seesSecrets}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("viewer, admin, sees own, sees other, sees secrets: got %v, want %v", got, want)
			}
		})
	}
}

func TestMaskSecrets(t *testing.T) {
	t.Parallel()
	in := `{"threshold":0.8,"password":"a","db":{"Password":"b","host":"h","api_key":"c"},"tokens":["d"],"privateKey":"e","credentials":{"user":"u","secret":"f"},"list":[{"access_token":"g"}],"monkey":"ok?","count":12345678901234567890}`
	out := string(fleet.MaskSecrets(json.RawMessage(in)))
	for _, secret := range []string{`"a"`, `"b"`, `"c"`, `"d"`, `"e"`, `"f"`, `"g"`} {
		if strings.Contains(out, secret) {
			t.Errorf("masked document still holds %s: %s", secret, out)
		}
	}
	if !strings.Contains(out, `"credentials":"[redacted]"`) {
		t.Errorf("an object under a secret-looking key must be masked whole: %s", out)
	}
	for _, keep := range []string{`"threshold":0.8`, `"host":"h"`, `12345678901234567890`} {
		if !strings.Contains(out, keep) {
			t.Errorf("masked document lost %s: %s", keep, out)
		}
	}
	if got := string(fleet.MaskSecrets(json.RawMessage(`not json`))); got != `"[redacted]"` {
		t.Errorf("non-JSON: got %s", got)
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	before := json.RawMessage(`{"a":1,"b":{"c":2,"password":"old"},"gone":true,"token":{"value":"t1"}}`)
	after := json.RawMessage(`{"a":1,"b":{"c":3,"password":"new"},"added":"x","token":{"value":"t2"}}`)
	got, _ := json.Marshal(fleet.Diff(before, after))
	want := `[{"path":"added","after":"x"},{"path":"b.c","before":2,"after":3},{"path":"b.password","before":"[redacted]","after":"[redacted]"},{"path":"gone","before":true},{"path":"token","before":"[redacted]","after":"[redacted]"}]`
	if string(got) != want {
		t.Errorf("Diff:\n got %s\nwant %s", got, want)
	}
}
