package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/protocol"
)

// The reference workload (issue 8, BENCHMARKS.md): in each 30-second
// period an isolated line in each 15-second half, and in four periods out
// of five a burst of 20 to 50 lines: 86,400 lines a day. The idle agent
// sends what it holds every 30 s with its status, so a period is a chunk.
const (
	period        = 30 * time.Second
	groupsOfFleet = 4
	importBatch   = 500
)

// Line mix of the generated logs (the reference workload does not fix
// levels; detector output is mostly info).
const (
	errorShare = 0.01
	warnShare  = 0.04
	debugShare = 0.15
	// rareShare is the share of lines holding rareText: about one a
	// terminal-day, the needle of the rare-text search.
	rareShare = 1.0 / 86_400
	rareText  = "checksum mismatch"
)

func terminalID(i int) string { return fmt.Sprintf("cam-%03d", i) }
func groupOf(i int) string    { return fmt.Sprintf("line-%d", i%groupsOfFleet+1) }

// dataSet describes what load wrote.
type dataSet struct {
	Terminals int       `json:"terminals"`
	Days      int       `json:"days"`
	Now       time.Time `json:"now"`
	Lines     int64     `json:"lines"`
	Chunks    int64     `json:"chunks"`
	LoadTime  string    `json:"loadTime"`
}

// message returns a detector-like line of 60 to 100 bytes.
func message(r *rand.Rand, level string) (msg, source string) {
	switch level {
	case protocol.LevelError:
		return fmt.Sprintf("PLC %d did not answer within %d ms; retrying the handshake on port %d", r.IntN(8)+1, r.IntN(900)+100, 5000+r.IntN(10)), "plc"
	case protocol.LevelWarn:
		return fmt.Sprintf("part %d: low confidence %d%% on the top camera, sent to manual check", r.IntN(100000), r.IntN(30)+50), "detector"
	case protocol.LevelDebug:
		return fmt.Sprintf("camera %d exposure adjusted to %d us after a brightness change of %d%%", r.IntN(8)+1, r.IntN(900)+100, r.IntN(40)), "vision"
	}
	if r.IntN(2) == 0 {
		return fmt.Sprintf("frame %d processed: %d objects detected in zone %s, latency %d ms", r.IntN(1_000_000), r.IntN(6), []string{"north", "south", "east", "west"}[r.IntN(4)], r.IntN(60)+5), "detector"
	}
	return fmt.Sprintf("belt speed %d mm/s, load %d%%, motor temperature %d C, vibration nominal", r.IntN(400)+100, r.IntN(100), r.IntN(30)+40), "conveyor"
}

func level(r *rand.Rand) string {
	switch x := r.Float64(); {
	case x < errorShare:
		return protocol.LevelError
	case x < errorShare+warnShare:
		return protocol.LevelWarn
	case x < errorShare+warnShare+debugShare:
		return protocol.LevelDebug
	}
	return protocol.LevelInfo
}

// chunks generates terminal i's chunks of days before now, oldest first,
// calling emit with up to importBatch at a time.
func chunks(i, days int, now time.Time, emit func([]fleet.LogChunk) error) (lines int64, err error) {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	id := terminalID(i)
	start := now.Add(-time.Duration(days) * 24 * time.Hour)
	periods := days * int(24*time.Hour/period)
	seq := uint64(0)
	var batch []fleet.LogChunk
	for p := range periods {
		t0 := start.Add(time.Duration(p) * period)
		var at []time.Duration
		at = append(at, time.Duration(r.Int64N(int64(period/2))), period/2+time.Duration(r.Int64N(int64(period/2))))
		if p%5 != 4 {
			burst := time.Duration(r.Int64N(int64(period - time.Second)))
			for k := range 20 + r.IntN(31) {
				at = append(at, burst+time.Duration(k)*time.Millisecond*7)
			}
		}
		sort.Slice(at, func(a, b int) bool { return at[a] < at[b] })
		c := fleet.LogChunk{TerminalID: id, FirstSeq: seq + 1, StoredAt: t0.Add(period + time.Duration(r.IntN(500))*time.Millisecond)}
		c.ExpiresAt = c.StoredAt.Add(7 * 24 * time.Hour)
		for _, d := range at {
			seq++
			lv := level(r)
			msg, src := message(r, lv)
			if r.Float64() < rareShare {
				msg = "frame upload failed: " + rareText + " after 3 retries, buffer kept"
			}
			c.Entries = append(c.Entries, protocol.LogEntry{Seq: seq, Time: t0.Add(d), Level: lv, Message: msg, Source: src})
		}
		c.LastSeq = seq
		lines += int64(len(c.Entries))
		batch = append(batch, c)
		if len(batch) == importBatch || p == periods-1 {
			if err := emit(batch); err != nil {
				return lines, err
			}
			batch = nil
		}
	}
	return lines, nil
}

// load registers the fleet and writes its logs, workers terminals at a
// time, reporting progress every 10 s.
func load(ctx context.Context, st *dynamo.Store, terminals, days int, now time.Time, progress func(string)) (dataSet, error) {
	began := time.Now()
	ds := dataSet{Terminals: terminals, Days: days, Now: now}
	for i := range terminals {
		t := fleet.Terminal{ID: terminalID(i), Name: "Camera " + terminalID(i), Groups: []string{groupOf(i)}, CreatedAt: now.Add(-30 * 24 * time.Hour)}
		if err := st.CreateTerminal(ctx, t); err != nil {
			return ds, fmt.Errorf("create %s: %w", t.ID, err)
		}
	}
	var lines, chunkCount atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	errs := make(chan error, terminals)
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		total := int64(terminals * days * int(24*time.Hour/period))
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				n := chunkCount.Load()
				progress(fmt.Sprintf("loaded %d of %d chunks (%.0f%%) in %s", n, total, 100*float64(n)/float64(total), time.Since(began).Truncate(time.Second)))
			}
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= terminals {
					return
				}
				var last fleet.LogChunk
				n, err := chunks(i, days, now, func(cs []fleet.LogChunk) error {
					last = cs[len(cs)-1]
					chunkCount.Add(int64(len(cs)))
					return st.ImportLogChunks(ctx, cs)
				})
				lines.Add(n)
				if err == nil {
					// Raises the terminal's LastSeq, as storing it did.
					err = st.PutLogChunk(ctx, last, 0)
				}
				if err != nil {
					errs <- fmt.Errorf("logs of %s: %w", terminalID(i), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	if err := <-errs; err != nil {
		return ds, err
	}
	ds.Lines, ds.Chunks = lines.Load(), chunkCount.Load()
	ds.LoadTime = time.Since(began).Truncate(time.Second).String()
	return ds, nil
}
