// Package docstest runs the commands the documentation tells a user to
// type, verbatim, against a real local stack: the README's first command
// and its examples, the commands the stack's start-up banner prints, and
// docs/first-terminal.md from start to lines on screen. A command that the
// docs print and that no longer works fails here, not in a user's shell.
//
// The stack runs on its default ports, 127.0.0.1:8080 and :8081, because
// the documented commands name them; with something else listening there
// the tests skip (and fail under EDGESYNC_REQUIRE_TOOLS=1, as in CI). Its
// data directory is a temporary one (EDGESYNC_DATA), not the checkout's.
package docstest
