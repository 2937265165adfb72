package httpapi

import (
	_ "embed"
	"net/http"
)

// OpenAPIDocument is the OpenAPI 3 description of this API (openapi.yaml),
// served at GET /openapi.yaml. A test keeps it true: every route is
// described, and real answers of every operation match its schemas.
//
//go:embed openapi.yaml
var OpenAPIDocument []byte

// serveOpenAPI answers GET /openapi.yaml; the document is public.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(OpenAPIDocument)
}
