// Package wsapi adapts API Gateway WebSocket events ($connect, $disconnect,
// $default) to fleet.Service calls. It is the edge where domain errors
// become status codes; the functions' main packages and the local stack
// both use it, so the Lambda binaries and the emulator run the same code.
package wsapi
