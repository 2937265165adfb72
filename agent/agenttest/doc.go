// Package agenttest provides a WebSocket server that speaks the server side
// of the edgesync protocol, for testing terminal agents without the cloud.
//
// The Server authenticates like the real $connect (bearer token, terminal
// id in the terminal_id query parameter), decodes every message with
// protocol.Decode, stores log lines by sequence number, acknowledges each
// logs batch, and records everything it receives. Faults can be injected:
// refused handshakes, withheld or reordered acks, a connection dropped in
// the middle of a batch, rejected batches.
package agenttest
