package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// base is the fixed origin of every time the suite uses. It has a
// millisecond part (precision check) and lies far in the future so that a
// real DynamoDB TTL never deletes a test item while it is being read.
var base = time.Date(2099, time.March, 4, 5, 6, 7, 890_000_000, time.UTC)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// env is what each contract test gets: a store and an id generator.
type env struct {
	store fleet.Store
	nonce string
}

// contract is one top-level subtest of Run.
type contract struct {
	name string
	run  func(t *testing.T, e env)
}

// Run runs the fleet.Store contract tests as subtests of t. newStore is
// called once per subtest, inside it (so t.TempDir and t.Cleanup belong to
// the subtest); it may return a fresh store or a shared one. Subtests run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) fleet.Store) {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("storetest: nonce: %v", err)
	}
	nonce := hex.EncodeToString(b[:])

	var contracts []contract
	contracts = append(contracts, terminalContracts()...)
	contracts = append(contracts, groupContracts()...)
	contracts = append(contracts, connectionContracts()...)
	contracts = append(contracts, presenceContracts()...)
	contracts = append(contracts, snapshotContracts()...)
	contracts = append(contracts, logContracts()...)
	contracts = append(contracts, logStatusContracts()...)
	contracts = append(contracts, commandContracts()...)
	contracts = append(contracts, concurrencyContracts()...)
	contracts = append(contracts, desiredContracts()...)
	contracts = append(contracts, auditContracts()...)
	contracts = append(contracts, rolloutContracts()...)
	contracts = append(contracts, alertContracts()...)
	contracts = append(contracts, recordContracts()...)

	for _, c := range contracts {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			if st == nil {
				t.Fatal("storetest: newStore returned nil")
			}
			c.run(t, env{store: st, nonce: nonce})
		})
	}
}

// id returns a terminal id unique to the test t, this run and suffix, valid
// by protocol.ValidID. Ids of one test sort by suffix.
func (e env) id(t testing.TB, suffix string) string {
	t.Helper()
	name := sanitize(t.Name())
	if len(name) > 80 {
		h := fnv.New64a()
		h.Write([]byte(name))
		name = fmt.Sprintf("%s-%x", name[:60], h.Sum64())
	}
	id := name + "." + e.nonce + "." + suffix
	if !protocol.ValidID(id) {
		t.Fatalf("storetest: generated id %q is not valid (bad suffix %q?)", id, suffix)
	}
	return id
}

// sanitize maps a test name to id characters: '/' becomes ':', anything
// else outside protocol.ValidID's alphabet becomes '_'.
func sanitize(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '/':
			b.WriteByte(':')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || s[0] == '.' {
		s = "t" + s
	}
	return s
}

// newTerminal returns a fully populated new terminal record.
func newTerminal(id string) fleet.Terminal {
	return fleet.Terminal{
		ID:     id,
		Name:   "Caméra 北门 " + id,
		Groups: []string{"line-1", "north"},
		Credentials: []fleet.Credential{
			{ID: "cred-1", Hash: bytes.Repeat([]byte{0xab, 0x01}, 16), CreatedAt: at(-time.Hour), NotAfter: at(time.Hour)},
			{ID: "cred-2", Hash: bytes.Repeat([]byte{0x00, 0xff}, 16), CreatedAt: at(-time.Minute)},
		},
		// Not UTC: stores may normalise the zone but must keep the instant.
		CreatedAt: at(-2 * time.Hour).In(time.FixedZone("UTC+8", 8*3600)),
	}
}

// create stores newTerminal(id) and returns it.
func create(t *testing.T, st fleet.Store, id string) fleet.Terminal {
	t.Helper()
	term := newTerminal(id)
	if err := st.CreateTerminal(context.Background(), term); err != nil {
		t.Fatalf("CreateTerminal(%s): %v", id, err)
	}
	return term
}

// get returns the stored terminal or fails the test.
func get(t *testing.T, st fleet.Store, id string) fleet.Terminal {
	t.Helper()
	term, err := st.Terminal(context.Background(), id)
	if err != nil {
		t.Fatalf("Terminal(%s): %v", id, err)
	}
	return term
}

// sameTime reports whether a and b are the same instant; zero equals zero.
func sameTime(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && b.IsZero()
	}
	return a.Equal(b)
}

// sameJSON reports whether a and b hold the same JSON value (or are both empty).
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == 0 && len(b) == 0
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

// sameStrings compares string slices, nil equal to empty.
func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// diffs collects field mismatches of a compared record.
type diffs []string

func (d *diffs) time(field string, got, want time.Time) {
	if !sameTime(got, want) {
		*d = append(*d, fmt.Sprintf("%s: got %v, want %v", field, got, want))
	}
}

func (d *diffs) json(field string, got, want json.RawMessage) {
	if !sameJSON(got, want) {
		*d = append(*d, fmt.Sprintf("%s: got %s, want %s", field, got, want))
	}
}

func (d *diffs) value(field string, got, want any) {
	if !reflect.DeepEqual(got, want) {
		*d = append(*d, fmt.Sprintf("%s: got %#v, want %#v", field, got, want))
	}
}

func (d *diffs) strings(field string, got, want []string) {
	if !sameStrings(got, want) {
		*d = append(*d, fmt.Sprintf("%s: got %q, want %q", field, got, want))
	}
}

func (d *diffs) report(t *testing.T, what string) {
	t.Helper()
	if len(*d) > 0 {
		t.Errorf("%s differs:\n  %s", what, strings.Join(*d, "\n  "))
	}
}

func diffSnapshot(d *diffs, field string, got, want fleet.Snapshot) {
	d.json(field+".Data", got.Data, want.Data)
	d.time(field+".SyncedAt", got.SyncedAt, want.SyncedAt)
	d.value(field+".Version", got.Version, want.Version)
}

func diffDesired(d *diffs, got, want fleet.DesiredConfig) {
	d.json("Desired.Data", got.Data, want.Data)
	d.value("Desired.Version", got.Version, want.Version)
	d.time("Desired.SetAt", got.SetAt, want.SetAt)
	d.value("Desired.SetBy", got.SetBy, want.SetBy)
	d.value("Desired.RequestID", got.RequestID, want.RequestID)
}

func diffCredentials(d *diffs, got, want []fleet.Credential) {
	if len(got) != len(want) {
		*d = append(*d, fmt.Sprintf("Credentials: got %d, want %d", len(got), len(want)))
		return
	}
	for i := range want {
		f := fmt.Sprintf("Credentials[%d]", i)
		d.value(f+".ID", got[i].ID, want[i].ID)
		if !bytes.Equal(got[i].Hash, want[i].Hash) {
			*d = append(*d, fmt.Sprintf("%s.Hash: got %x, want %x", f, got[i].Hash, want[i].Hash))
		}
		d.time(f+".CreatedAt", got[i].CreatedAt, want[i].CreatedAt)
		d.time(f+".NotAfter", got[i].NotAfter, want[i].NotAfter)
	}
}

// checkTerminal compares every field of a terminal record.
func checkTerminal(t *testing.T, got, want fleet.Terminal) {
	t.Helper()
	var d diffs
	d.value("ID", got.ID, want.ID)
	d.value("Name", got.Name, want.Name)
	d.strings("Groups", got.Groups, want.Groups)
	diffCredentials(&d, got.Credentials, want.Credentials)
	d.value("CredentialsVersion", got.CredentialsVersion, want.CredentialsVersion)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.value("Online", got.Online, want.Online)
	d.value("ConnectionID", got.ConnectionID, want.ConnectionID)
	d.time("ConnectedAt", got.ConnectedAt, want.ConnectedAt)
	d.time("LastSeen", got.LastSeen, want.LastSeen)
	d.time("DisconnectedAt", got.DisconnectedAt, want.DisconnectedAt)
	d.value("DisconnectReason", got.DisconnectReason, want.DisconnectReason)
	d.value("AgentVersion", got.AgentVersion, want.AgentVersion)
	d.value("LastSeq", got.LastSeq, want.LastSeq)
	d.value("Dropped", got.Dropped, want.Dropped)
	diffSnapshot(&d, "Config", got.Config, want.Config)
	diffSnapshot(&d, "Status", got.Status, want.Status)
	diffDesired(&d, got.Desired, want.Desired)
	d.report(t, "terminal "+want.ID)
}

// checkConnection compares every field of a connection binding.
func checkConnection(t *testing.T, got, want fleet.Connection) {
	t.Helper()
	var d diffs
	d.value("ID", got.ID, want.ID)
	d.value("TerminalID", got.TerminalID, want.TerminalID)
	d.time("ConnectedAt", got.ConnectedAt, want.ConnectedAt)
	d.value("SourceIP", got.SourceIP, want.SourceIP)
	d.value("CredentialID", got.CredentialID, want.CredentialID)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.report(t, "connection "+want.ID)
}

// checkCommand compares every field of a command.
func checkCommand(t *testing.T, got, want fleet.Command) {
	t.Helper()
	var d diffs
	d.value("TerminalID", got.TerminalID, want.TerminalID)
	d.value("RequestID", got.RequestID, want.RequestID)
	d.value("Name", got.Name, want.Name)
	d.json("Params", got.Params, want.Params)
	d.value("State", got.State, want.State)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("Deadline", got.Deadline, want.Deadline)
	d.time("CompletedAt", got.CompletedAt, want.CompletedAt)
	d.json("Result", got.Result, want.Result)
	d.value("Error", got.Error, want.Error)
	d.value("Actor", got.Actor, want.Actor)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.report(t, "command "+want.RequestID)
}

// checkChunk compares every field of a log chunk, entries included.
func checkChunk(t *testing.T, got, want fleet.LogChunk) {
	t.Helper()
	var d diffs
	d.value("TerminalID", got.TerminalID, want.TerminalID)
	d.value("FirstSeq", got.FirstSeq, want.FirstSeq)
	d.value("LastSeq", got.LastSeq, want.LastSeq)
	d.time("StoredAt", got.StoredAt, want.StoredAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	if len(got.Entries) != len(want.Entries) {
		d = append(d, fmt.Sprintf("Entries: got %d, want %d", len(got.Entries), len(want.Entries)))
	} else {
		for i, w := range want.Entries {
			g := got.Entries[i]
			f := fmt.Sprintf("Entries[%d]", i)
			d.value(f+".Seq", g.Seq, w.Seq)
			d.time(f+".Time", g.Time, w.Time)
			d.value(f+".Level", g.Level, w.Level)
			d.value(f+".Message", g.Message, w.Message)
			d.value(f+".Source", g.Source, w.Source)
			if len(g.Attrs) != 0 || len(w.Attrs) != 0 {
				d.value(f+".Attrs", g.Attrs, w.Attrs)
			}
		}
	}
	d.report(t, fmt.Sprintf("chunk %s/%d..%d", want.TerminalID, want.FirstSeq, want.LastSeq))
}

// wantErr fails t unless err matches target (errors.Is); target nil means
// no error.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Errorf("%s: got error %v, want nil", what, err)
	case target != nil && !errors.Is(err, target):
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}
