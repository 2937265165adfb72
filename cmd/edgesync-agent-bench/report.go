package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

const (
	beginMarker = "<!-- agent-bench:begin -->"
	endMarker   = "<!-- agent-bench:end -->"
)

// Goals of issue 18.
const (
	goalRSSRef   = 12 << 20
	goalRSSLoad  = 20 << 20
	goalCPURef   = 0.2
	goalCPULoad  = 6.0
	goalSpoolMax = 1.1
)

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// writeReport writes the agent section of BENCHMARKS.md: method, results
// and the published figures of comparable agents.
func writeReport(w io.Writer, r *results, o options) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("%s\n## Terminal agent footprint on a device\n\n", beginMarker)
	p("```sh\ngo run ./cmd/edgesync-agent-bench -o BENCHMARKS.md\n```\n\n")
	p("Issue 18's footprint goals, measured on the agent binary as a device runs it. The command needs Go and\n")
	p("nothing else (no Docker, no cloud); it takes about %v. Flags: `-ref-window` (3m), `-load-window` (1m),\n", (o.warmup + o.refWindow + o.loadWindow + time.Minute).Round(time.Minute))
	p("`-rate` (2000), `-spool-max` (4 MiB), `-warmup` (15s), `-v`.\n\n")
	p("### Method\n\n")
	p("- **What runs.** The command builds `cmd/edgesync-agent` (`CGO_ENABLED=0 go build -trimpath -ldflags \"-s -w\"`)\n")
	p("  for this machine, and for linux/arm64 and linux/arm with GOARM=7 to report their sizes. It starts the\n")
	p("  local stack (`devstack`: the API Gateway emulators and the functions in its own process, embedded store),\n")
	p("  registers a terminal and runs the agent binary as a separate process with the **default configuration**\n")
	p("  (idle batch window 30 s, status every 30 s, 64 MiB spool, nobody reading its logs) but `ack_interval` %d s\n", benchAckInterval)
	p("  (the default, 15 min, would leave the last lines unacknowledged when the bench waits for them), following a log file.\n")
	p("- **Workload.** A generator appends detector lines of 60–100 bytes with an RFC 3339 timestamp and a level\n")
	p("  (which the agent parses), numbered. *Reference workload* (issue 8): in each 30-second period but one in five\n")
	p("  a burst of 20–50 lines at a random moment, and one isolated line in each 15-second period: 86,400 lines a\n")
	p("  day on average. *Sustained rate*: %d lines a second, written every 10 ms.\n", o.rate)
	p("- **What is measured.** CPU: the process's user + system time from `/proc/<pid>/stat` over the window,\n")
	p("  as a percentage of one core. Memory: `VmRSS` from `/proc/<pid>/status` every second; *steady* is the median\n")
	p("  of the window's second half. Spool: the bytes the file system allocated to the spool's files (`st_blocks`),\n")
	p("  sampled every second, or every 50 ms in the spool-bound phase. Loss: after the windows, every line is\n")
	p("  read back from the stack (`fleet.Service.TerminalLogs`) and its number counted.\n")
	p("- **Spool bound.** A second agent process, its cloud out of reach (`ws://127.0.0.1:1`), `spool_max_bytes`\n")
	p("  %s, follows a file into which ten times that many bytes of lines are written at once; the spool's\n", mib(o.spoolMax))
	p("  bytes on disk are sampled until the agent has read every line.\n")
	p("- **The machine** is shared and is not a device: on a slower device core the same CPU time is a larger\n")
	p("  share, so read the CPU figures as this machine's; the spool's bytes on disk do not depend on it.\n\n")

	p("### Results of %s\n\n", r.began.UTC().Format("2006-01-02 15:04 MST"))
	p("On %s. The run took %v.\n\n", r.machine, r.ended.Sub(r.began).Round(time.Second))
	p("| goal (issue 18) | measured | |\n|---|---|---|\n")
	p("| steady RSS ≤ 12 MB at the reference workload | %s (max %s) over %v | %s |\n",
		mb(r.ref.rssMedian), mb(r.ref.rssMax), r.ref.window, verdict(r.ref.rssMedian <= goalRSSRef))
	p("| RSS ≤ 20 MB at %d lines/s | %s steady, max %s over %v | %s |\n", o.rate,
		mb(r.load.rssMedian), mb(r.load.rssMax), r.load.window, verdict(r.load.rssMax <= goalRSSLoad))
	p("| CPU ≤ 0.2 %% of a core at the reference workload | %.3f %% (%d lines in %v) | %s |\n",
		r.ref.cpuPercent, r.ref.lines, r.ref.window, verdict(r.ref.cpuPercent <= goalCPURef))
	p("| CPU ≤ 6 %% of a core at %d lines/s | %.2f %% (%d lines in %v) | %s |\n", o.rate,
		r.load.cpuPercent, r.load.lines, r.load.window, verdict(r.load.cpuPercent <= goalCPULoad))
	ratio := float64(r.bound.peakAlloc) / float64(r.bound.spoolMax)
	p("| spool bytes on disk ≤ 1.1 × `spool_max_bytes` after 10× its size was written | peak %s allocated (%s of file sizes) for a bound of %s: %.3f × | %s |\n",
		mib(r.bound.peakAlloc), mib(r.bound.peakSize), mib(r.bound.spoolMax), ratio, verdict(ratio <= goalSpoolMax))
	p("| no line lost at either rate | %d lost, %d duplicated of %d lines read back | %s |\n", r.lost, r.dups, r.lines, verdict(r.lost == 0))
	var sizes []string
	for _, s := range r.sizes {
		sizes = append(sizes, fmt.Sprintf("%s %s", s.target, mb(s.bytes)))
	}
	p("| arm64 and armv7 binary sizes reported | %s (stripped, static) | reported |\n\n", strings.Join(sizes, ", "))
	p("Spool during the windows, default 64 MiB bound: at most %s on disk at the reference workload, %s at %d lines/s\n",
		mib(r.ref.spoolPeak), mib(r.load.spoolPeak), o.rate)
	p("(the 16 KiB reserve file and the segment being written: up to a sixteenth of the bound, 4 MiB at most, deleted once\n")
	p("it is full and its lines are acknowledged). Spool-bound phase: %d lines\n", r.bound.lines)
	p("(%s) written with the cloud out of reach; the agent kept the newest %d and counted %d as dropped.\n\n",
		mib(r.bound.written), r.bound.held, r.bound.dropped)

	p("### Side by side with published figures\n\n")
	p("Published by their makers, not measured here; the conditions differ (see the notes).\n\n")
	p("| | edgesync agent (measured above) | Fluent Bit | AWS IoT Greengrass nucleus lite |\n|---|---|---|---|\n")
	p("| memory | %s steady at the reference workload, %s at %d lines/s | \"~650KB\" in its makers' comparison with Fluentd [1]; a pipeline is sized at (input buffers + output copies) × 1.2, e.g. 36 MB for a 10 MB `Mem_Buf_Limit` [2] | \"uses less than 5MB RAM\", requirement 5 MB of RAM for the nucleus runtime (component versions 2.0–2.3) [3]; \"less than 15MB\" on the page's later versions (up to 2.5) [3] |\n",
		mb(r.ref.rssMedian), mb(r.load.rssMedian), o.rate)
	p("| storage | binary %s | – | 5 MB of storage for the nucleus (requirement) [3] |\n", strings.Join(sizes, ", "))
	p("| what the figure covers | the whole agent: tailing, parsing, spool, TLS WebSocket, commands, status | the core with minimal plugins; real pipelines buffer more [2] | the device runtime alone; components such as a log uploader run on top of it |\n\n")
	p("[1] Fluent Bit manual v1.4, \"Fluentd & Fluent Bit\": https://docs.fluentbit.io/manual/v/1.4/about/fluentd-and-fluent-bit\n")
	p("(https://github.com/fluent/fluent-bit-docs/blob/1.4/about/fluentd-and-fluent-bit.md).  \n")
	p("[2] Fluent Bit manual, \"Memory Management\": https://docs.fluentbit.io/manual/administration/memory-management  \n")
	p("[3] AWS IoT Greengrass developer guide, \"Greengrass nucleus lite\": https://docs.aws.amazon.com/greengrass/v2/developerguide/greengrass-nucleus-lite-component.html\n\n")
	p("%s\n", endMarker)
}

// rewriteSection replaces the agent section of the file at path with
// section, or appends it.
func rewriteSection(path string, section []byte) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out []byte
	if i := bytes.Index(data, []byte(beginMarker)); i >= 0 {
		j := bytes.Index(data, []byte(endMarker))
		if j < i {
			return fmt.Errorf("%s: %s without %s", path, beginMarker, endMarker)
		}
		k := j + len(endMarker)
		if k < len(data) && data[k] == '\n' {
			k++
		}
		out = append(append(append(out, data[:i]...), section...), data[k:]...)
	} else {
		out = append(append(bytes.TrimRight(data, "\n"), "\n\n"...), section...)
	}
	return os.WriteFile(path, out, 0o644)
}
