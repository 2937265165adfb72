// Package securitytest performs the attacks of issue 12 ("Security, round
// two") against the whole local stack, as an attacker with an operator or
// viewer login, a terminal's token or a hostile IdP group would: real
// HTTP requests with real JWTs of the local issuer through the HTTP API
// emulator, real WebSocket terminals (the Go agent, or a hand-written
// client where the attack needs a terminal to send what the agent never
// would) through the WebSocket emulator, the functions' handler code and
// the embedded store, started with devstack.Start. Each test shows that
// its attack no longer works; SECURITY.md at the repository root maps
// every hole to its defence and to its test, here or in the package that
// holds the rule.
//
// The package has no code of its own: everything is in its tests.
//
//	go test ./securitytest
package securitytest
