// Package dashboard serves the operator dashboard: a static single-page
// app that reads the HTTP API with the TypeScript client (@edgesync/client).
// It shows the fleet at a glance, each terminal's status with a chart of
// recent history, its config with secrets masked, a live-tailing log viewer
// and resync and command buttons with their outcomes.
//
// web/ is embedded as it is served: index.html and style.css as written,
// and web/js, which scripts/build-frontend.sh compiles from src/
// (TypeScript) beside the client (@edgesync/client, client/src) as
// js/client.js. web/js is the only build output committed, so that building
// the Go binaries needs no JavaScript toolchain; scripts/check-generated.sh
// checks that it matches its sources.
//
// Handler serves GET / (the page) and GET /ui/{file...} (its assets). The
// page finds the API at its own origin and directory unless told otherwise
// (?api=https://…execute-api…amazonaws.com, or the API field it remembers),
// so the same files work from the query function, the local stack or any
// other origin the API's CORS settings allow.
package dashboard
