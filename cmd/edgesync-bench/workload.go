package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// The reference workload of issue 8, per terminal: online 24/7, a status
// report every 30 s, 86,400 log lines a day arriving as bursts of 20–50
// lines about every 30 s plus isolated single lines, 10 dashboard reads a
// day. The day's lines are split so: a burst of 20–50 lines at a random
// moment of four 30-second periods out of five (2,304 bursts and 80,640
// lines a day; sizes drawn without replacement from 20..50, mean 35) and
// an isolated line at a random moment of every 15-second period (5,760 a
// day). Drawing so (stratified) rather than independently keeps the lines
// of a short run within a few percent of the reference rate.
const (
	refLinesPerDay  = 86_400
	refStatusEvery  = 30 * time.Second
	refReadsPerDay  = 10
	refDaysPerMonth = 30
	burstPeriod     = 30 * time.Second
	burstMin        = 20
	burstMax        = 50
	singlePeriod    = 15 * time.Second
)

// event is a moment at which a terminal writes lines (one for an isolated
// line, 20–50 for a burst, written at once).
type event struct {
	at    time.Duration // from the start of the schedule
	lines int
}

// schedule draws a terminal's events over d at the reference rate; the
// same seed gives the same schedule, so the baselines and the protocol see
// the same lines.
func schedule(seed uint64, d time.Duration) []event { return scheduleAt(seed, d, 1) }

// scheduleAt draws a terminal's events over d at volume times the
// reference rate: the same bursts and isolated lines, their periods
// divided by volume (0.1: a burst about every 5 minutes; 10: every 3 s).
func scheduleAt(seed uint64, d time.Duration, volume float64) []event {
	r := rand.New(rand.NewPCG(seed, 0x6564676573796e63))
	burstPeriod := time.Duration(float64(burstPeriod) / volume)
	singlePeriod := time.Duration(float64(singlePeriod) / volume)
	var evs []event
	var sizes []int
	var skip int
	for k, start := 0, time.Duration(0); start < d; k, start = k+1, start+burstPeriod {
		if k%5 == 0 {
			skip = r.IntN(5)
		}
		if len(sizes) == 0 {
			for n := burstMin; n <= burstMax; n++ {
				sizes = append(sizes, n)
			}
			r.Shuffle(len(sizes), func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
		}
		at := start + time.Duration(r.Int64N(int64(burstPeriod)))
		if k%5 != skip && at < d {
			evs = append(evs, event{at: at, lines: sizes[0]})
			sizes = sizes[1:]
		}
	}
	for start := time.Duration(0); start < d; start += singlePeriod {
		if at := start + time.Duration(r.Int64N(int64(singlePeriod))); at < d {
			evs = append(evs, event{at: at, lines: 1})
		}
	}
	slices.SortFunc(evs, func(a, b event) int { return int(a.at - b.at) })
	return evs
}

// line is the text of a terminal's n-th line: a detector's output, 60–100
// bytes, mostly info.
type line struct {
	level, msg, source string
}

// lineFor is a terminal's n-th line. Its level follows n: one line in 20
// warn, one in 20 debug, one in 140 error (617 a day at the reference
// rate, each of which the agent sends at once). Its fields (camera,
// counts, classes, scores, times) are drawn at random for each line
// (seeded by the terminal and n, so runs repeat): fields that follow n
// with short periods would compress better than real output in a column
// layout.
func lineFor(terminal string, n uint64) line {
	h := n*2654435761 + uint64(len(terminal))
	level := "info"
	switch h % 20 {
	case 0:
		level = "warn"
	case 1:
		level = "debug"
	case 2:
		if h%7 == 0 {
			level = "error"
		}
	}
	classes := []string{"person", "forklift", "pallet", "helmet", "vest", "box"}
	f := rand.New(rand.NewPCG(n, uint64(len(terminal))<<32|uint64(terminal[len(terminal)-1])))
	return line{
		level: level,
		msg: fmt.Sprintf("frame %d cam %d: %d objects (%s %.2f, %s %.2f) in %d ms",
			1_000_000+n, f.IntN(4)+1, f.IntN(5)+1, classes[f.IntN(6)], 0.5+float64(f.IntN(50))/100, classes[f.IntN(6)], 0.5+float64(f.IntN(50))/100, 20+f.IntN(40)),
		source: "detector",
	}
}
