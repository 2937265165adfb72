package dynamo

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// recordingUpdates records the keys of the UpdateItem calls it passes on.
type recordingUpdates struct {
	itemAPI
	mu   sync.Mutex
	keys []map[string]types.AttributeValue
}

func (r *recordingUpdates) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.mu.Lock()
	r.keys = append(r.keys, in.Key)
	r.mu.Unlock()
	return r.itemAPI.UpdateItem(ctx, in, opts...)
}

// TestWaveCounterUpdateIsSmall: every answer of a wave's terminals adds to
// the wave's counters with one UpdateItem, which DynamoDB bills by the
// larger of the item's sizes before and after it. That item holds no
// terminal list, so an answer costs one write unit whatever the wave's
// size (before, the list shared the item: 21 units per answer for 1,000
// terminals, 206 for 10,000, all on one partition).
func TestWaveCounterUpdateIsSmall(t *testing.T) {
	t.Parallel()
	rec := &recordingUpdates{itemAPI: client}
	st := newStore(rec, sharedTable)
	for i, size := range []int{1, 100, 1000, 10000} {
		t.Run(fmt.Sprint(size, " terminals"), func(t *testing.T) {
			ctx := t.Context()
			id := fleet.NewAuditID(time.Now().Add(time.Duration(i) * time.Millisecond))
			w := fleet.RolloutWave{RolloutID: id, Index: 3}
			for j := range size {
				w.Terminals = append(w.Terminals, fmt.Sprintf("site-42-line-7-%05d", j)) // 20 bytes
			}
			if err := st.PutRolloutWaves(ctx, w); err != nil {
				t.Fatalf("PutRolloutWaves: %v", err)
			}
			counters := rawItem(t, sharedTable, rolloutPK(id), waveSK(3))
			rec.mu.Lock()
			rec.keys = nil
			rec.mu.Unlock()
			got, err := st.AddRolloutWaveCounts(ctx, id, 3, fleet.WaveCounts{Succeeded: 1})
			if err != nil {
				t.Fatalf("AddRolloutWaveCounts: %v", err)
			}
			if got.Size != size || got.Counts.Succeeded != 1 {
				t.Errorf("AddRolloutWaveCounts: size %d, %+v; want %d, 1 succeeded", got.Size, got.Counts, size)
			}
			rec.mu.Lock()
			keys := rec.keys
			rec.mu.Unlock()
			if len(keys) != 1 {
				t.Fatalf("AddRolloutWaveCounts made %d UpdateItem calls, want 1", len(keys))
			}
			pk, sk := stringAttr(t, keys[0], attrPK), stringAttr(t, keys[0], attrSK)
			after := rawItem(t, sharedTable, pk, sk)
			if sk != waveSK(3) {
				t.Errorf("the update's item: %s %s, want the wave's counters %s", pk, sk, waveSK(3))
			}
			billed := max(itemSize(counters), itemSize(after))
			units := (billed + 1023) / 1024
			if _, ok := after[roTerminals]; ok || units != 1 {
				t.Errorf("the counter update's item: %d bytes (terminal list in it: %v), %d write units; want one unit, no list", billed, ok, units)
			}
			list := itemSize(rawItem(t, sharedTable, rolloutPK(id), waveTerminalsSK(3)))
			if list < 20*size {
				t.Errorf("the terminal list's item: %d bytes for %d terminals of 20 bytes; want the list there", list, size)
			}
			t.Logf("wave of %d: counter update %d bytes (%d write unit); the terminal list %d bytes apart (%d units if it shared the item)",
				size, billed, units, list, (list+billed+1023)/1024)
			full, err := st.RolloutWave(ctx, id, 3)
			if err != nil || len(full.Terminals) != size || full.Size != size {
				t.Errorf("RolloutWave: %d terminals, size %d, %v; want %d", len(full.Terminals), full.Size, err, size)
			}
		})
	}
}

// TestWaveOfTheEarlierLayoutReads: a wave stored before the counters had
// an item of their own (list and counters in W#) still reads, and its
// counters still add up.
func TestWaveOfTheEarlierLayoutReads(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := New(client, sharedTable)
	id := fleet.NewAuditID(time.Now())
	it := waveItem(fleet.RolloutWave{RolloutID: id, Index: 0, Terminals: []string{"a", "b", "c"}})
	delete(it, roSize)
	it[roTerminals] = waveTerminalsItem(fleet.RolloutWave{RolloutID: id, Terminals: []string{"a", "b", "c"}})[roTerminals]
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: st.table, Item: it}); err != nil {
		t.Fatal(err)
	}
	w, err := st.RolloutWave(ctx, id, 0)
	if err != nil || len(w.Terminals) != 3 || w.Size != 3 {
		t.Fatalf("RolloutWave: %+v, %v; want its 3 terminals", w, err)
	}
	w, err = st.AddRolloutWaveCounts(ctx, id, 0, fleet.WaveCounts{Failed: 2})
	if err != nil || w.Size != 3 || w.Counts.Failed != 2 || w.Terminals != nil {
		t.Fatalf("AddRolloutWaveCounts: %+v, %v; want size 3, 2 failed, no terminals", w, err)
	}
	waves, err := st.RolloutWaves(ctx, id)
	if err != nil || len(waves) != 1 || waves[0].Size != 3 || waves[0].Terminals != nil {
		t.Fatalf("RolloutWaves: %+v, %v; want one wave of size 3 without terminals", waves, err)
	}
}

// TestLateDropKeepsALaterActiveEntry: the writer that made a rollout
// inactive deletes its active entry after writing the record; if that
// delete lands after a later revision made it active again (a rollback;
// the SDK's retries widen the gap), the entry stays, so the scheduler
// still finds the rollout. A drop by the latest revision or a later one
// removes it.
func TestLateDropKeepsALaterActiveEntry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := newStore(client, sharedTable)
	at := time.Now()
	r := fleet.Rollout{ID: fleet.NewAuditID(at), Group: "late-drop", State: fleet.RolloutRunning, CreatedAt: at, CreatedBy: "ada", CreatorRole: fleet.RoleOperator, Config: []byte(`{"a":1}`)}
	if err := st.CreateRollout(ctx, r); err != nil {
		t.Fatalf("CreateRollout: %v", err)
	}
	active := func() bool {
		ids, err := st.ActiveRollouts(ctx, "", 1000)
		if err != nil {
			t.Fatalf("ActiveRollouts: %v", err)
		}
		return slices.Contains(ids, r.ID)
	}
	// Revision 2 completes it; revision 3 starts its rollback.
	r.Revision, r.State = 1, fleet.RolloutCompleted
	if err := st.UpdateRollout(ctx, r); err != nil {
		t.Fatalf("complete: %v", err)
	}
	r.Revision, r.State = 2, fleet.RolloutRollingBack
	if err := st.UpdateRollout(ctx, r); err != nil {
		t.Fatalf("roll back: %v", err)
	}
	// Revision 2's delete, late.
	if err := st.dropActiveEntry(ctx, r.ID, 2); err != nil {
		t.Fatalf("late drop: %v", err)
	}
	if !active() {
		t.Fatal("a late drop by revision 2 removed the entry revision 3 wrote: the rollback is no longer listed")
	}
	r.Revision, r.State = 3, fleet.RolloutRolledBack
	if err := st.UpdateRollout(ctx, r); err != nil {
		t.Fatalf("rolled back: %v", err)
	}
	if active() {
		t.Error("revision 4 (rolled back) left the entry")
	}
}
