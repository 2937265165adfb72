// Command edgesync-bench measures edgesync's cost, latency, throughput and
// cold start against the seed-literal baseline (the source system's design
// transplanted to this stack), on this machine, in one run of under five
// minutes:
//
//	go run ./cmd/edgesync-bench -o BENCHMARKS.md
//
// It starts dynalite (DynamoDB's wire protocol, with ConsumedCapacity) and
// the local stack with the functions in process, and runs side by side
// groups of terminals: seed-literal clients (each line a message and an
// item, no ack), per-line clients of the first protocol version, Go agents
// of the default and economy profiles, agents whose logs a dashboard
// tails, and agents at the chart's other idle windows and volumes (long
// timers time-compressed: the agent's timers divided by k, the workload k
// times faster). It counts every API Gateway message, Lambda invocation
// (timed; the billed duration modelled with DynamoDB at 5 ms a request)
// and DynamoDB capacity unit, and models $ per terminal-month and per
// million log lines at the reference workload of issue 8 from
// prices.json. Then it measures end-to-end latency, status freshness,
// sustained throughput, CPU per message (go test -bench), binary sizes and
// init durations under the Lambda runtime interface emulator.
// BENCHMARKS.md describes the method.
//
// With -o FILE it replaces the part of FILE between the markers
// "<!-- bench:begin -->" and "<!-- bench:end -->" with the report (a new
// file holding them when FILE does not exist), and writes the chart
// (docs/cost-chart.svg beside FILE, -chart) and the per-terminal rates
// (cmd/edgesync-bench/rates.json in the source tree, -rates); it always
// prints the report. It needs dynalite (make tools) and, for the init
// durations, aws-lambda-rie (make tools).
package main
