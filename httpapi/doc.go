// Package httpapi is the frontend's HTTP API over fleet.Service: terminals,
// their config, status and logs with freshness, sync and commands. It is a
// plain net/http handler; functions/query runs it behind API Gateway's HTTP
// API through aws-lambda-go-api-proxy, and the local stack serves it directly
// or through its HTTP API emulator.
//
// Paths accept an optional trailing slash, as the existing TypeScript
// frontend calls them ("/terminals/{id}/config/"). Errors are JSON objects
// {"code": "...", "message": "..."}; 5xx bodies are generic and the detail is
// logged once.
package httpapi
