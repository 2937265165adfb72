// Package devstack runs the whole edgesync system on one machine, with no
// cloud account and no Docker: the API Gateway WebSocket and HTTP API
// emulators of devstack/gateway with the routes of template.yaml, the four
// functions (their handler code in process, or their real bootstrap binaries
// under aws-lambda-runtime-interface-emulator), a store (the embedded one by
// default, or DynamoDB at an endpoint), and optionally demo terminals: real
// agents producing logs and status. cmd/edgesync-local is its command line.
package devstack
