package apigw

import (
	"fmt"
	"net/http"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/edgesync/edgesync/fleet"
)

// Identify returns an httpapi identification function for a handler run
// behind an API Gateway HTTP API JWT authorizer through
// aws-lambda-go-api-proxy: API Gateway has verified the token's signature,
// issuer, audience and expiry, and passes its claims in the request
// context; the claims named by cfg give the caller's role and groups. A
// request without authorizer claims (a route left unprotected by mistake)
// is refused as unauthenticated.
func Identify(cfg fleet.ClaimsConfig) func(*http.Request) (fleet.Principal, error) {
	return func(r *http.Request) (fleet.Principal, error) {
		rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
		if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil || len(rc.Authorizer.JWT.Claims) == 0 {
			return fleet.Principal{}, fmt.Errorf("no JWT authorizer claims on the request: %w", fleet.ErrUnauthenticated)
		}
		return fleet.PrincipalFromClaims(rc.Authorizer.JWT.Claims, cfg)
	}
}
