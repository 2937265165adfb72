// Package fleet holds edgesync's sync rules: how terminals connect and
// authenticate, how the cloud pulls their status, config and logs, how that
// data is kept with freshness and retention, how commands are tracked from
// pending to an outcome without any function waiting for a terminal, and
// who may do and see what.
//
// The package imports neither the AWS SDK nor aws-lambda-go. It talks to the
// outside through small ports declared here: Store (persistence; see
// infra/dynamo and infra/embedded; it includes AlertStore), Pusher (sending
// a message to a connected terminal; see infra/apigw), which may also be a
// ConnectionCloser (closing a connection), and AlertPublisher (delivering
// alerts; see infra/snsalert). Lambda handlers and the local stack
// adapt events to Service methods.
//
// Every method a frontend or a tool calls takes the caller, a Principal (a
// user with a role and groups, a terminal, or the system), and applies the
// access rules itself: the role the operation needs, the terminals the
// caller sees (one outside a user's groups is ErrNotFound, exactly like an
// absent one), and what it sees of them (secrets masked for non-admins,
// MaskSecrets). Sensitive operations are audited inside the method. The
// edges (httpapi, wsapi, the CLI) authenticate, parse and map errors.
//
// Files by flow (DESIGN §1):
//
//	service.go      the Service, its options and the push to a terminal
//	connect.go      $connect and $disconnect; connection bindings, read
//	                for every message; ending and closing connections
//	messages.go     messages from terminals: hello, logs, status, heartbeat
//	commands.go     commands: send, read, sync (pull), answers, deadlines
//	documents.go    config and status with freshness; desired config (SetConfig)
//	logs.go         log reads (paging, filters, live hints)
//	terminals.go    terminal views, listing (by group for users), creation
//	deletion.go     deleting a terminal
//	credentials.go  tokens: hashing, rotation and revocation (conditional
//	                writes), ending the connections of a revoked token
//	audit.go        the audit trail: writing bounded records, coalescing
//	                denials, audited operations, reading
//	auditid.go      audit record ids and their time ranges
//	access.go       principals, roles per operation, visibility, masking, claims
//	rollouts.go     group config rollouts: the precedence rule, access,
//	                start, reads, pause, resume, cancel, rollback
//	rolloutrecords.go a rollout's records: rollout, waves, counters, targets
//	rolloutengine.go what moves rollouts: sending and deciding waves,
//	                deadlines, the scheduler's Tick
//	rolloutanswers.go terminals' answers and hellos moving rollouts,
//	                offline terminals catching up
//	rollback.go     rolling a rollout back, wave by wave
//	mergepatch.go   JSON merge patch (RFC 7396)
//	search.go       fleet-wide log search: the request, its terminals, the
//	                read budget
//	searchmerge.go  the search's streams per terminal, the merge newest
//	                first, the seek to Until, cursors of positions
//	alerts.go       alert rules per group, alerts and their states, the
//	                AlertStore and AlertPublisher ports
//	alerteval.go    evaluating rules: error rates on the write path, the
//	                rest and all clearing and delivery by the scheduler
//	alertfiring.go  whether an offline, status or dropped rule fires for
//	                one terminal, and the status fields it reads
//	tick.go         the periodic work the scheduler function runs (Tick)
//	config.go       the service's own timing configuration (Config)
//	model.go        records and errors; ports.go the Store, RolloutStore
//	                and Pusher ports
package fleet
