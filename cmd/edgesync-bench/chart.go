package main

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
)

// chartPoint is one measured configuration of the chart.
type chartPoint struct {
	group string
	x     float64 // idle window in seconds, or lines a day
	label string
}

// The chart's points: the idle window (and status interval) at the
// reference volume, and the volume for each profile.
var (
	windowPoints = []chartPoint{
		{groupOurs, 30, "30 s"}, {"w1m", 60, "1 min"}, {"w2m", 120, "2 min"}, {groupEconomy, 300, "5 min"}, {"w10m", 600, "10 min"},
	}
	defaultVolume = []chartPoint{{"d8", 8640, "8.6 k"}, {groupOurs, 86400, "86 k"}, {"d864", 864000, "864 k"}}
	economyVolume = []chartPoint{{"e8", 8640, "8.6 k"}, {groupEconomy, 86400, "86 k"}, {"e864", 864000, "864 k"}}
)

// seedAt is the seed-literal baseline's cost per terminal-month at volume
// times the reference lines: what its log lines cost scales with them
// (one message, invocation and item each), the rest (status every 30 s,
// connections, reads, connection minutes) does not.
func (r *results) seedAt(volume float64) float64 {
	mm := r.models[groupSeed]
	if mm == nil {
		return 0
	}
	month := kindUsage{}
	for kind, v := range mm.Month {
		if kind == kindLogs || kind == kindAcks {
			v = v.scale(volume)
		}
		month[kind] = v
	}
	return price(month.total(), r.prices).total()
}

// panel is one plot of the chart: log x, log y.
type panel struct {
	x0, y0, w, h           float64 // plot area in the SVG
	xmin, xmax, ymin, ymax float64
}

func (p panel) px(x float64) float64 {
	return p.x0 + p.w*(math.Log10(x)-math.Log10(p.xmin))/(math.Log10(p.xmax)-math.Log10(p.xmin))
}

func (p panel) py(y float64) float64 {
	return p.y0 + p.h - p.h*(math.Log10(y)-math.Log10(p.ymin))/(math.Log10(p.ymax)-math.Log10(p.ymin))
}

// chartSVG draws the cost per terminal-month against the idle window and
// against the log volume, the seed-literal baseline as a line.
func (r *results) chartSVG() []byte {
	var b bytes.Buffer
	const width, height = 960, 440
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold" text-anchor="middle">Cost per terminal-month, measured (%s, %s prices)</text>`+"\n", width/2, r.began.UTC().Format("2006-01-02"), html.EscapeString(r.prices.Region))
	ymin, ymax := 0.01, 100.0
	for _, g := range []string{groupSeed, groupOurs, groupEconomy, "d8", "e8", "d864", "e864", "w1m", "w2m", "w10m"} {
		if c := r.monthCost(g); c > 0 {
			ymin = math.Min(ymin, c/1.5)
			ymax = math.Max(ymax, c*1.5)
		}
	}
	ymax = math.Max(ymax, r.seedAt(10)*1.5)
	ymin = math.Pow(10, math.Floor(math.Log10(ymin)))
	ymax = math.Pow(10, math.Ceil(math.Log10(ymax)))
	left := panel{x0: 80, y0: 60, w: 360, h: 290, xmin: 20, xmax: 900, ymin: ymin, ymax: ymax}
	right := panel{x0: 560, y0: 60, w: 360, h: 290, xmin: 5000, xmax: 1.5e6, ymin: ymin, ymax: ymax}
	seed := r.monthCost(groupSeed)

	// Left: the idle window.
	r.axes(&b, left, "idle window and status interval (86,400 lines/day)", []chartPoint{{x: 30, label: "30 s"}, {x: 60, label: "1 min"}, {x: 120, label: "2 min"}, {x: 300, label: "5 min"}, {x: 600, label: "10 min"}})
	hline(&b, left, seed, "#c0392b", "", "seed-literal "+dollars(seed))
	hline(&b, left, seed/targetDefault, "#999999", "4 3", "20× cheaper")
	hline(&b, left, seed/targetEconomy, "#999999", "4 3", "100× cheaper")
	r.series(&b, left, windowPoints, "#1f6fb2")
	r.mark(&b, left, chartPoint{groupOurs, 30, "default"}, "#1f6fb2", 1, -1)
	r.mark(&b, left, chartPoint{groupEconomy, 300, "economy"}, "#1e8449", 1, -1)

	// Right: the volume.
	r.axes(&b, right, "log lines per terminal-day", []chartPoint{{x: 8640, label: "8.6 k"}, {x: 86400, label: "86 k"}, {x: 864000, label: "864 k"}})
	var prev [2]float64
	for i, v := range []float64{0.1, 1, 10} {
		x, y := right.px(refLinesPerDay*v), right.py(r.seedAt(v))
		if i > 0 {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-width="2"/>`+"\n", prev[0], prev[1], x, y)
		}
		prev = [2]float64{x, y}
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#c0392b" text-anchor="end">seed-literal</text>`+"\n", prev[0]-4, prev[1]-8)
	r.series(&b, right, defaultVolume, "#1f6fb2")
	r.series(&b, right, economyVolume, "#1e8449")
	r.mark(&b, right, chartPoint{groupOurs, 86400, "default"}, "#1f6fb2", 1, -1)
	r.mark(&b, right, chartPoint{groupEconomy, 86400, "economy"}, "#1e8449", 1, 1)

	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#555555" text-anchor="middle">Each point: a group of real agents on the local stack, long windows time-compressed (timers ÷ k, workload × k).</text>`+"\n", width/2, height-26)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#555555" text-anchor="middle">Blue: default profile; green: economy; red: the seed-literal baseline; dashed: 20× and 100× below it. Ratios are against the baseline at the same volume.</text>`+"\n", width/2, height-10)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func (r *results) axes(w io.Writer, p panel, xlabel string, ticks []chartPoint) {
	fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333333"/>`+"\n", p.x0, p.y0, p.w, p.h)
	for y := p.ymin; y <= p.ymax*1.0001; y *= 10 {
		py := p.py(y)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", p.x0, py, p.x0+p.w, py)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", p.x0-6, py+4, tickDollars(y))
	}
	for _, t := range ticks {
		px := p.px(t.x)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", px, p.y0, px, p.y0+p.h)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px, p.y0+p.h+16, html.EscapeString(t.label))
	}
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", p.x0+p.w/2, p.y0+p.h+36, html.EscapeString(xlabel))
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">$ per terminal-month</text>`+"\n", p.x0-56, p.y0+p.h/2, p.x0-56, p.y0+p.h/2)
}

func tickDollars(v float64) string {
	switch {
	case v >= 1:
		return fmt.Sprintf("$%.0f", v)
	case v >= 0.1:
		return fmt.Sprintf("$%.1f", v)
	case v >= 0.01:
		return fmt.Sprintf("$%.2f", v)
	}
	return fmt.Sprintf("$%.3f", v)
}

func hline(w io.Writer, p panel, y float64, color, dash, label string) {
	if y <= 0 {
		return
	}
	py := p.py(y)
	d := ""
	if dash != "" {
		d = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%s"%s/>`+"\n", p.x0, py, p.x0+p.w, py, color, map[bool]string{true: "1", false: "2"}[dash != ""], d)
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" fill="%s" text-anchor="end" font-size="11">%s</text>`+"\n", p.x0+p.w-4, py-4, color, html.EscapeString(label))
}

// series draws a group per point joined by lines, its cost beside each.
func (r *results) series(w io.Writer, p panel, pts []chartPoint, color string) {
	var prev *[2]float64
	for _, pt := range pts {
		c := r.monthCost(pt.group)
		if c <= 0 {
			continue
		}
		x, y := p.px(pt.x), p.py(c)
		if prev != nil {
			fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", prev[0], prev[1], x, y, color)
		}
		fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", x, y, color)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" fill="%s" font-size="10" text-anchor="start">%s</text>`+"\n", x+6, y-5, color, dollars(c))
		prev = &[2]float64{x, y}
	}
}

// mark rings a point and names it with its ratio to the seed-literal
// baseline at volume, above it (side -1) or below (1).
func (r *results) mark(w io.Writer, p panel, pt chartPoint, color string, volume float64, side int) {
	c := r.monthCost(pt.group)
	if c <= 0 {
		return
	}
	x, y := p.px(pt.x), p.py(c)
	fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="8" fill="none" stroke="%s" stroke-width="2"/>`+"\n", x, y, color)
	ty := y - 13
	if side > 0 {
		ty = y + 30
	}
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" fill="%s" font-weight="bold" text-anchor="middle">%s (%s)</text>`+"\n", x, ty, color, html.EscapeString(pt.label), ratio(r.seedAt(volume), c))
}

// writeChart shows the chart and its numbers.
func (r *results) writeChart(w io.Writer) {
	if _, ok := r.cost.groups["w1m"]; !ok {
		return
	}
	fmt.Fprintf(w, "### Cost against freshness and volume\n\n")
	if r.chartFile != "" {
		fmt.Fprintf(w, "![Cost per terminal-month against the idle window and against the log volume](%s)\n\n", r.chartFile)
	}
	fmt.Fprintf(w, "The idle window is also the status interval here (status rides with the lines; the promise is twice it, or it plus a minute); lines at `error` go at once in every point, so past about 2 minutes the error lines of the reference workload (one in 140, 617 a day), not the window, set the number of messages. The seed-literal line scales its log lines with the volume; its status reports and connections do not.\n\n")
	t := table{head: []string{"point", "terminals × scale", "$ per terminal-month", "vs seed-literal at that volume", "messages / write units per terminal-hour"}}
	row := func(label string, pt chartPoint, volume float64) {
		mm := r.models[pt.group]
		if mm == nil {
			return
		}
		c := r.monthCost(pt.group)
		s := mm.Steady.total()
		t.row(label, fmt.Sprintf("%d × %g", mm.Group.terminals, mm.Group.scale), dollars(c), ratio(r.seedAt(volume), c), fmt.Sprintf("%s / %s", count(s.Messages), count(s.WCU)))
	}
	for _, pt := range windowPoints {
		row("window "+pt.label+" (86 k lines/day)", pt, 1)
	}
	for _, pt := range defaultVolume {
		row("default, "+pt.label+" lines/day", pt, pt.x/86400)
	}
	for _, pt := range economyVolume {
		row("economy, "+pt.label+" lines/day", pt, pt.x/86400)
	}
	row("economy, error lines wait for the window too (`urgent_level` none: no 2 s promise)", chartPoint{group: groupEcoNoUrgent}, 1)
	t.write(w)
}
