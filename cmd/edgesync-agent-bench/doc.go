// Command edgesync-agent-bench measures the terminal agent's footprint on a
// device: it builds the agent (for this machine, and for linux/arm64 and
// linux/arm v7 to report their sizes), starts the local stack (devstack) in
// this process, registers a terminal and runs the agent binary as its own
// process, following a log file that a line generator writes. It reads the
// agent's CPU time and memory from /proc, its spool's bytes on disk from
// the file system and its state from its status socket, and reads every
// line back from the stack to count what was lost.
//
// Phases: the reference workload (86,400 lines a day in bursts, nobody
// reading), a sustained rate (2,000 lines/s), and the spool bound (the
// cloud out of reach while ten times spool_max_bytes of lines are written).
//
// Usage:
//
//	go run ./cmd/edgesync-agent-bench                # print the report
//	go run ./cmd/edgesync-agent-bench -o BENCHMARKS.md
//
// With -o it rewrites the agent section at the end of that file (between
// <!-- agent-bench:begin --> and <!-- agent-bench:end -->, appended if
// absent). Linux only (/proc).
package main
