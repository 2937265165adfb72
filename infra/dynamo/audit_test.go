package dynamo

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

func TestAuditAndDesiredLayout(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := New(client, sharedTable)
	id := testIDs(t)("term")
	if err := st.CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0}); err != nil {
		t.Fatalf("CreateTerminal: %v", err)
	}
	desired := fleet.DesiredConfig{Data: json.RawMessage(`{"threshold":0.9}`), Version: "v2", SetAt: t0, SetBy: "alice", RequestID: "req-1"}
	if err := st.SetDesiredConfig(ctx, id, desired); err != nil {
		t.Fatalf("SetDesiredConfig: %v", err)
	}
	forTerminal := fleet.AuditRecord{ID: fleet.NewAuditID(t0), At: t0, Actor: "alice", Action: "config.set", TerminalID: id,
		Outcome: "ok", Detail: json.RawMessage(`{"version":"v2"}`)}
	fleetWide := fleet.AuditRecord{ID: fleet.NewAuditID(t0), At: t0, Actor: "alice", Action: "request.denied", Outcome: "denied"}
	for _, r := range []fleet.AuditRecord{forTerminal, fleetWide} {
		if err := st.PutAudit(ctx, r); err != nil {
			t.Fatalf("PutAudit: %v", err)
		}
	}

	tests := []struct {
		name   string
		pk, sk string
		want   map[string]string // string attributes
	}{
		{"terminal audit record", "T#" + id, "AUDIT#" + forTerminal.ID,
			map[string]string{"apk": "audit", "ask": forTerminal.ID, "terminalId": id, "actor": "alice", "action": "config.set", "detail": `{"version":"v2"}`}},
		{"fleet-wide audit record", "AUDIT", "AUDIT#" + fleetWide.ID,
			map[string]string{"apk": "audit", "ask": fleetWide.ID, "outcome": "denied"}},
		{"desired config", "T#" + id, "META#desired",
			map[string]string{"data": `{"threshold":0.9}`, "version": "v2", "setBy": "alice", "requestId": "req-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := rawItem(t, sharedTable, tt.pk, tt.sk)
			if _, ok := it[attrExpiresAt]; ok {
				t.Errorf("item has expiresAt; want none (it never expires)")
			}
			for name, want := range tt.want {
				if got := stringAttr(t, it, name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for _, name := range []string{attrTPK, attrTSK} {
				if _, ok := it[name]; ok {
					t.Errorf("item carries %s; only terminal records may (the terminals index)", name)
				}
			}
		})
	}
	t.Run("audit record time is epoch ms", func(t *testing.T) {
		it := rawItem(t, sharedTable, "T#"+id, "AUDIT#"+forTerminal.ID)
		if got := numberAttr(t, it, attrAt); got != t0.UnixMilli() {
			t.Errorf("at = %d, want %d", got, t0.UnixMilli())
		}
	})
	t.Run("terminal record holds no desired config", func(t *testing.T) {
		it := rawItem(t, sharedTable, "T#"+id, "META")
		for _, name := range []string{attrData, attrSetBy, attrSetAt} {
			if _, ok := it[name]; ok {
				t.Errorf("terminal record holds %s; want the desired config in META#desired only", name)
			}
		}
	})
}

// recordingQuery records every Query input and its scanned count.
type recordingQuery struct {
	itemAPI
	mu      sync.Mutex
	inputs  []*dynamodb.QueryInput
	scanned int32
}

func (r *recordingQuery) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := r.itemAPI.Query(ctx, in, opts...)
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := *in
	r.inputs = append(r.inputs, &cp)
	if out != nil {
		r.scanned += out.ScannedCount
	}
	return out, err
}

func (r *recordingQuery) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inputs, r.scanned = nil, 0
}

// TestAuditReadsOnlyWhatItNeeds checks how Audit queries: a terminal's
// records come from its own partition (strongly consistent), fleet-wide
// ones from the "audit" index, neither scans, and a time range or a page
// reads only the items it needs.
func TestAuditReadsOnlyWhatItNeeds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := &recordingQuery{itemAPI: client}
	st := newTableStore(t, db)
	ids := []string{"cam-1", "cam-2"}
	// 100 records a second apart for each terminal, and 100 fleet-wide.
	for i := range 100 {
		at := t0.Add(time.Duration(i) * time.Second)
		for _, tid := range append(ids, "") {
			r := fleet.AuditRecord{ID: fleet.NewAuditID(at), At: at, Actor: "user-" + strconv.Itoa(i%2), Action: "command.send", TerminalID: tid, Outcome: "ok"}
			if err := st.PutAudit(ctx, r); err != nil {
				t.Fatalf("PutAudit: %v", err)
			}
		}
	}
	tests := []struct {
		name        string
		q           fleet.AuditQuery
		wantIndex   string
		wantRecords int
		maxScanned  int32
	}{
		{"terminal page", fleet.AuditQuery{TerminalID: "cam-1", Limit: 10}, "", 10, 12},
		{"terminal time range", fleet.AuditQuery{TerminalID: "cam-2", Since: t0.Add(10 * time.Second), Until: t0.Add(15 * time.Second), Limit: 100}, "", 5, 5},
		{"fleet-wide page", fleet.AuditQuery{Limit: 10}, auditIndex, 10, 12},
		{"fleet-wide time range", fleet.AuditQuery{Since: t0.Add(90 * time.Second), Limit: 1000}, auditIndex, 30, 30},
		{"fleet-wide actor filter", fleet.AuditQuery{Actor: "user-1", Limit: 5}, auditIndex, 5, minFilteredRead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db.reset()
			recs, _, err := st.Audit(ctx, tt.q)
			if err != nil {
				t.Fatalf("Audit: %v", err)
			}
			if len(recs) != tt.wantRecords {
				t.Errorf("got %d records, want %d", len(recs), tt.wantRecords)
			}
			db.mu.Lock()
			defer db.mu.Unlock()
			for _, in := range db.inputs {
				if got := aws.ToString(in.IndexName); got != tt.wantIndex {
					t.Errorf("Query on index %q, want %q", got, tt.wantIndex)
				}
				if tt.wantIndex == "" {
					if !aws.ToBool(in.ConsistentRead) {
						t.Errorf("terminal Query is not strongly consistent")
					}
					var values []string
					for _, v := range in.ExpressionAttributeValues {
						if s, ok := v.(*types.AttributeValueMemberS); ok {
							values = append(values, s.Value)
						}
					}
					if !slices.Contains(values, "T#"+tt.q.TerminalID) {
						t.Errorf("terminal Query values %q do not name partition T#%s", values, tt.q.TerminalID)
					}
				}
			}
			if db.scanned > tt.maxScanned {
				t.Errorf("Queries read %d items, want at most %d", db.scanned, tt.maxScanned)
			}
		})
	}
}

// TestCreateTableAddsMissingIndex creates a table as an earlier version did
// (without the audit index) and checks that CreateTable either adds the
// index or fails saying so: it never leaves the table silently unusable
// for Audit. DynamoDB adds it; dynalite cannot.
func TestCreateTableAddsMissingIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	table := "old-layout-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var terminalsOnly []types.GlobalSecondaryIndex
	var defs []types.AttributeDefinition
	for _, gsi := range globalIndexes() {
		if aws.ToString(gsi.IndexName) == terminalsIndex {
			terminalsOnly = append(terminalsOnly, gsi)
		}
	}
	for _, d := range attributeDefinitions() {
		if a := aws.ToString(d.AttributeName); a != attrAPK && a != attrASK {
			defs = append(defs, d)
		}
	}
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest, AttributeDefinitions: defs,
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: terminalsOnly,
	})
	if err != nil {
		t.Fatalf("create the old table: %v", err)
	}
	err = CreateTable(ctx, client, table)
	has, descErr := hasIndex(ctx, client, table, auditIndex)
	if descErr != nil {
		t.Fatalf("hasIndex: %v", descErr)
	}
	switch {
	case err == nil && !has:
		t.Errorf("CreateTable succeeded but the table has no %s index", auditIndex)
	case err != nil && !strings.Contains(err.Error(), "add index "+auditIndex):
		t.Errorf("CreateTable error %q does not say that the %s index is missing", err, auditIndex)
	}
}
