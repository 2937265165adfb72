// Package httpapi is the frontend's HTTP API over fleet.Service: terminals,
// their config, status and logs with freshness, sync and commands. It is a
// plain net/http handler; functions/query runs it behind API Gateway's HTTP
// API through aws-lambda-go-api-proxy, and the local stack serves it directly
// or through its HTTP API emulator.
//
// The API authenticates the caller (Options.Identify), parses the request,
// calls the service as that caller and maps its errors to status codes. It
// applies no access rule of its own: roles, groups (a terminal outside the
// caller's groups answers 404, as an absent one) and the masking of
// secrets are the service's. Files: httpapi.go the routes, middleware and
// identification; terminals.go and admin.go the handlers; respond.go
// parsing and answers; openapi.go the OpenAPI document.
//
// Paths accept an optional trailing slash, as the existing TypeScript
// frontend calls them ("/terminals/{id}/config/"). Errors are JSON objects
// {"code": "...", "message": "..."}; 5xx bodies are generic and the detail is
// logged once.
package httpapi
