// Package dashboard serves the operator dashboard: a static single-page
// app that reads and drives the HTTP API with the TypeScript client
// (@edgesync/client). It shows the fleet a page at a time (the API filters
// by name, group, state and agent version and pages, so the page never
// loads the whole fleet), each terminal's status with a chart of recent
// history, its reported and desired config side by side with an editor,
// a live-tailing log viewer, resync and command buttons with their
// outcomes, and for admins the registration of terminals, their tokens and
// the audit trail. What a user sees follows their role (GET /me).
//
// web/ is embedded as it is served: index.html and style.css as written,
// and web/js, which scripts/build-frontend.sh compiles from src/
// (TypeScript) beside the client (@edgesync/client, client/src) as
// js/client.js. web/js is the only build output committed, so that building
// the Go binaries needs no JavaScript toolchain; scripts/check-generated.sh
// checks that it matches its sources.
//
// New serves GET / (the page) and GET /ui/{file...} (its assets). The page
// calls the API at its own origin and directory unless told otherwise
// (?api=https://…execute-api…amazonaws.com, or the API field it
// remembers), and only at an origin in Options.APIOrigins: it sends the
// user's token to that API, so any other origin is refused, and the page's
// Content-Security-Policy (connect-src) names the same list. New writes
// the list, and the WebSocket URL for the agent configuration it shows, into
// the page's meta tags; a copy of web/ served elsewhere sets them by hand.
package dashboard
