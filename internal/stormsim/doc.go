// Package stormsim simulates a reconnect storm of a whole fleet against
// AWS's quotas, in virtual time: every terminal loses its connection at
// once (a stage redeploy, a regional blip) and reconnects as the agent
// does, with the agent's own backoff and jitter parameters, through a model
// of API Gateway (the account's new-connection rate, the account request
// throttle shared by messages and management-API callbacks, the stage's
// route throttling from template.yaml), Lambda (account concurrency, burst
// scaling, durations built from DynamoDB and PostToConnection latencies),
// DynamoDB (the table's write throughput, throttles retried as the SDK
// retries them) and the management-API client's own retries.
//
// It is a discrete-event simulation: one queue of timed events, one
// goroutine, a seeded random source; a 100,000-terminal storm runs in
// seconds and the same seed gives the same result. What each step models
// and where its figure comes from is documented on Params; SCALE.md states
// the method and the results.
package stormsim
