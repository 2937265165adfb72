// Package capacity is edgesync's capacity model: from the per-terminal
// traffic the cost benchmark measured (a usage profile), the agent's
// defaults and template.yaml's parameters, it computes the load a fleet of
// a given size puts on each AWS quota in one account and Region — WebSocket
// messages in and out, management-API callbacks, new connections, Lambda
// concurrency, DynamoDB write and read units per table and per hot
// partition, HTTP API requests — as a fraction of the quota, and names the
// first quota each size hits with what to raise or change.
//
// Inputs are files with their sources: the quotas (with the AWS pages they
// come from and the date they were checked) and the usage profiles (with
// how each figure was derived from BENCHMARKS.md). cmd/edgesync-scale
// embeds both and writes the model into SCALE.md.
package capacity
