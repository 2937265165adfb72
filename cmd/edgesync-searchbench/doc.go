// Command edgesync-searchbench measures fleet-wide log search and alert
// evaluation on DynamoDB's wire protocol:
//
//	go run ./cmd/edgesync-searchbench -o BENCHMARKS.md
//
// It starts dynalite with an on-disk LevelDB store (it reports
// ConsumedCapacity, computed from item sizes as DynamoDB does), creates
// the table, registers 100 terminals in four groups and writes 7 days of
// the reference workload's logs for each (86,400 lines a day in bursts,
// stored as the idle agent sends them: one chunk per 30 s), then runs
// searches through fleet.Service.SearchLogs (latency and read units per
// request, several runs each) and the alert evaluation (the scheduler's
// tick and the write path's error-rate check, read and write units).
//
// With -o FILE it replaces the part of FILE between "<!-- searchbench:begin
// -->" and "<!-- searchbench:end -->" with the report (appending the
// section when the file has none); it always prints the report. -data DIR
// keeps the loaded store in DIR and reuses it on the next run with the
// same -terminals and -days (loading takes most of the run). It needs
// dynalite (make tools).
package main
