// Command edgesync-bench measures edgesync's cost, latency, throughput and
// cold start against a literal per-line design, on this machine, in one
// run of under five minutes:
//
//	go run ./cmd/edgesync-bench -o BENCHMARKS.md
//
// It starts dynalite (DynamoDB's wire protocol, with ConsumedCapacity) and
// the local stack with the functions in process, and runs side by side
// Go agents speaking the project's protocol, literal per-line clients with
// the same line schedules, and agents whose logs a dashboard tails. It
// counts every API Gateway message, Lambda invocation (timed) and DynamoDB
// capacity unit, and models $ per terminal-month and per million log lines
// at the reference workload of issue 8 from prices.json. Then it measures
// end-to-end latency, sustained throughput, CPU per message (go test
// -bench), binary sizes and init durations under the Lambda runtime
// interface emulator. BENCHMARKS.md describes the method.
//
// With -o FILE it replaces the part of FILE between the markers
// "<!-- bench:begin -->" and "<!-- bench:end -->" with the report; it
// always prints the report. It needs dynalite (make tools) and,
// for the init durations, aws-lambda-rie (make tools).
package main
