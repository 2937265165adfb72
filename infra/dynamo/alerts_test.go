package dynamo

import (
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// TestAlertItemLayout: rules and alerts are stored as the package
// documentation says, under the partitions template.yaml's LeadingKeys
// conditions name (ALERTRULE, ALERT); an active alert never expires, a
// cleared one carries its TTL.
func TestAlertItemLayout(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := New(client, sharedTable)
	group := testIDs(t)("g")
	r := fleet.AlertRule{ID: "r1", Group: group, Kind: fleet.AlertStatus, Field: "disk_percent", Op: ">", Threshold: 90.5, CreatedAt: t0}
	if err := st.PutAlertRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	it := rawItem(t, sharedTable, "ALERTRULE", group+" r1")
	if stringAttr(t, it, attrThreshold) != "90.5" || stringAttr(t, it, attrKind) != "status" || numberAttr(t, it, attrMinutes) != 0 {
		t.Errorf("rule item %v", it)
	}
	key := fleet.AlertKey{Group: group, RuleID: "r1", TerminalID: "press-7"}
	if ok, err := st.OpenAlert(ctx, fleet.Alert{AlertKey: key, Kind: fleet.AlertStatus, OpenedAt: t0, Message: "m", Value: 93}); err != nil || !ok {
		t.Fatalf("OpenAlert = %v, %v", ok, err)
	}
	it = rawItem(t, sharedTable, "ALERT", group+" r1 press-7")
	if _, ok := it[attrExpiresAt]; ok || stringAttr(t, it, attrState) != "open" || numberAttr(t, it, attrOpenedAt) != t0.UnixMilli() {
		t.Errorf("open alert item %v: want state open, openedAt in ms and no expiry", it)
	}
	if ok, err := st.ClearAlert(ctx, key, t0, t0.Add(time.Minute), t0.Add(time.Hour), "done"); err != nil || !ok {
		t.Fatalf("ClearAlert = %v, %v", ok, err)
	}
	it = rawItem(t, sharedTable, "ALERT", group+" r1 press-7")
	if numberAttr(t, it, attrExpiresAt) != ttlSeconds(t0.Add(time.Hour)) || stringAttr(t, it, attrState) != "cleared" {
		t.Errorf("cleared alert item %v: want state cleared and the TTL of its retention", it)
	}
}
