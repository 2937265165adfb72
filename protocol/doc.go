// Package protocol defines the JSON messages exchanged between a detecting
// terminal and the edgesync cloud over an API Gateway WebSocket, and the
// rules every message must satisfy.
//
// Every message is one JSON text object with a "type". Terminal to server:
// hello, command_response, logs, status, heartbeat. Server to terminal:
// command, ack, error. PROTOCOL.md at the repository root is the
// human-readable specification; this package is its executable form and is
// shared by the cloud functions and the terminal agent.
//
// The package depends on the standard library only.
package protocol
