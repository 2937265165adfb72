// Package dashboard serves the operator dashboard: a static single-page
// app that reads the HTTP API with the TypeScript client (@edgesync/client).
// It shows the fleet at a glance, each terminal's status with a chart of
// recent history, its config with secrets masked, a live-tailing log viewer
// and resync and command buttons with their outcomes.
//
// The page, its stylesheet and its compiled scripts are embedded from
// static/, which scripts/build-frontend.sh builds from web/ (HTML, CSS),
// src/ (TypeScript) and client/dist; the build output is committed so that
// building the Go binaries needs no JavaScript toolchain, and
// scripts/check-generated.sh checks that it matches its sources.
//
// Handler serves GET / (the page) and GET /ui/{file...} (its assets). The
// page finds the API at its own origin and directory unless told otherwise
// (?api=https://…execute-api…amazonaws.com, or the API field it remembers),
// so the same files work from the query function, the local stack or any
// other origin the API's CORS settings allow.
package dashboard
