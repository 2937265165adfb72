package template

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// API Gateway v2 resource types.
const (
	// TypeAPI is the type of a WebSocket or HTTP API.
	TypeAPI = "AWS::ApiGatewayV2::Api"
	// TypeRoute is the type of an API route.
	TypeRoute = "AWS::ApiGatewayV2::Route"
	// TypeIntegration is the type of a route's integration.
	TypeIntegration = "AWS::ApiGatewayV2::Integration"
)

// Route is a route of the WebSocket API and the function it invokes.
type Route struct {
	// Key is the route key: "$connect", "$disconnect", "$default" or a value
	// of the route selection expression.
	Key string
	// Function is the logical id of the function the route's integration invokes.
	Function string
	// Integration is the logical id of the route's integration.
	Integration string
}

// HTTPRoute is a route of a SAM HTTP API event and the function it invokes.
type HTTPRoute struct {
	// API is the logical id of the HTTP API (ServerlessHttpApi, SAM's
	// implicit API, when the event names none).
	API string
	// Method is the upper-case HTTP method or "ANY".
	Method string
	// Path is the route path, e.g. "/{proxy+}", or "$default" for an event
	// that gives neither path nor method.
	Path string
	// Function is the logical id of the function.
	Function string
	// PayloadFormatVersion is "2.0" unless the event says otherwise.
	PayloadFormatVersion string
	// Authorizer names the route's authorizer: the event's Auth.Authorizer,
	// else the API's DefaultAuthorizer; "" when the route is public (NONE).
	Authorizer string
}

// WebSocketAPI returns the logical id of the template's one WebSocket API
// (an AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET).
func (t *Template) WebSocketAPI() (string, error) {
	var found []string
	for _, id := range t.ResourcesOfType(TypeAPI) {
		if t.Resources[id].Properties["ProtocolType"] == "WEBSOCKET" {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no %s with ProtocolType WEBSOCKET", TypeAPI)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("%d WebSocket APIs (%s), want one", len(found), strings.Join(found, ", "))
	}
}

// RouteSelectionExpression returns the WebSocket API's route selection
// expression, e.g. "$request.body.type".
func (t *Template) RouteSelectionExpression() (string, error) {
	api, err := t.WebSocketAPI()
	if err != nil {
		return "", err
	}
	expr, ok := t.Resources[api].Properties["RouteSelectionExpression"].(string)
	if !ok || expr == "" {
		return "", fmt.Errorf("%s: RouteSelectionExpression is not a literal string", api)
	}
	return expr, nil
}

// WebSocketRoutes returns the routes of the WebSocket API sorted by key,
// each resolved to a function through Target → Integration → IntegrationUri.
// It is an error for a route's target not to resolve to an AWS_PROXY
// integration invoking a function of the template.
func (t *Template) WebSocketRoutes() ([]Route, error) {
	api, err := t.WebSocketAPI()
	if err != nil {
		return nil, err
	}
	var routes []Route
	seen := map[string]string{}
	for _, id := range t.ResourcesOfType(TypeRoute) {
		props := t.Resources[id].Properties
		if refName(props["ApiId"]) != api {
			continue
		}
		key, ok := props["RouteKey"].(string)
		if !ok || key == "" {
			return nil, fmt.Errorf("route %s: RouteKey is not a literal string", id)
		}
		if other, dup := seen[key]; dup {
			return nil, fmt.Errorf("routes %s and %s both have key %s", other, id, key)
		}
		seen[key] = id
		integ, err := integrationOfTarget(props["Target"])
		if err != nil {
			return nil, fmt.Errorf("route %s (%s): %w", id, key, err)
		}
		fn, err := t.integrationFunction(integ)
		if err != nil {
			return nil, fmt.Errorf("route %s (%s): %w", id, key, err)
		}
		routes = append(routes, Route{Key: key, Function: fn, Integration: integ})
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("WebSocket API %s has no routes", api)
	}
	slices.SortFunc(routes, func(a, b Route) int { return strings.Compare(a.Key, b.Key) })
	return routes, nil
}

var subTargetPattern = regexp.MustCompile(`^integrations/\$\{([A-Za-z0-9]+)\}$`)

// integrationOfTarget returns the integration logical id a route Target
// names: !Sub "integrations/${X}" or !Join ["/", ["integrations", !Ref X]].
func integrationOfTarget(target any) (string, error) {
	if target == nil {
		return "", fmt.Errorf("no Target")
	}
	if s, ok := subString(target); ok {
		if m := subTargetPattern.FindStringSubmatch(s); m != nil {
			return m[1], nil
		}
		return "", fmt.Errorf("route target %q is not integrations/${Integration}", s)
	}
	if m, ok := target.(map[string]any); ok {
		if args, ok := m["Fn::Join"].([]any); ok && len(args) == 2 {
			parts, _ := args[1].([]any)
			if args[0] == "/" && len(parts) == 2 && parts[0] == "integrations" {
				if id := refName(parts[1]); id != "" {
					return id, nil
				}
			}
		}
	}
	return "", fmt.Errorf("route target %v does not name an integration of the template", target)
}

var arnPattern = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\.Arn\}`)

// integrationFunction returns the function an AWS_PROXY integration invokes.
func (t *Template) integrationFunction(integ string) (string, error) {
	r, ok := t.Resources[integ]
	if !ok {
		return "", fmt.Errorf("integration %s: no such resource", integ)
	}
	if r.Type != TypeIntegration {
		return "", fmt.Errorf("integration %s: resource type is %s, want %s", integ, r.Type, TypeIntegration)
	}
	if typ := r.Properties["IntegrationType"]; typ != "AWS_PROXY" {
		return "", fmt.Errorf("integration %s: IntegrationType is %v, want AWS_PROXY", integ, typ)
	}
	uri := r.Properties["IntegrationUri"]
	var fn string
	if s, ok := subString(uri); ok {
		if m := arnPattern.FindAllStringSubmatch(s, -1); len(m) == 1 {
			fn = m[0][1]
		}
	} else if m, ok := uri.(map[string]any); ok {
		// !Join ["", ["arn:...:functions/", !GetAtt F.Arn, "/invocations"]]
		if args, ok := m["Fn::Join"].([]any); ok && len(args) == 2 {
			parts, _ := args[1].([]any)
			for _, p := range parts {
				if res, attr := getAtt(p); attr == "Arn" {
					fn = res
				}
			}
		}
	}
	if fn == "" {
		return "", fmt.Errorf("integration %s: IntegrationUri %v does not name a function's Arn", integ, uri)
	}
	fr, ok := t.Resources[fn]
	if !ok || (fr.Type != TypeServerlessFunction && fr.Type != TypeLambdaFunction) {
		return "", fmt.Errorf("integration %s: %s is not a function of the template", integ, fn)
	}
	return fn, nil
}

// HTTPRoutes returns the routes of the template's SAM HttpApi events, sorted
// by path and method.
func (t *Template) HTTPRoutes() ([]HTTPRoute, error) {
	var routes []HTTPRoute
	for _, id := range t.ResourcesOfType(TypeServerlessFunction) {
		events, _ := t.Resources[id].Properties["Events"].(map[string]any)
		for name, ev := range events {
			em, ok := ev.(map[string]any)
			if !ok || em["Type"] != "HttpApi" {
				continue
			}
			props, _ := em["Properties"].(map[string]any)
			r := HTTPRoute{API: "ServerlessHttpApi", Method: "ANY", Path: "$default", Function: id, PayloadFormatVersion: "2.0"}
			if api, found := props["ApiId"]; found {
				if r.API = refName(api); r.API == "" {
					return nil, fmt.Errorf("function %s event %s: ApiId %v is not a !Ref", id, name, api)
				}
			}
			if m, found := props["Method"]; found {
				s, ok := m.(string)
				if !ok || s == "" {
					return nil, fmt.Errorf("function %s event %s: Method is not a literal string", id, name)
				}
				r.Method = strings.ToUpper(s)
			}
			if p, found := props["Path"]; found {
				s, ok := p.(string)
				if !ok || s == "" {
					return nil, fmt.Errorf("function %s event %s: Path is not a literal string", id, name)
				}
				r.Path = s
			}
			if v, found := props["PayloadFormatVersion"]; found {
				r.PayloadFormatVersion = fmt.Sprint(v)
			}
			r.Authorizer = t.defaultAuthorizer(r.API)
			if auth, ok := props["Auth"].(map[string]any); ok {
				if a, found := auth["Authorizer"]; found {
					s, ok := a.(string)
					if !ok {
						return nil, fmt.Errorf("function %s event %s: Auth.Authorizer is not a literal string", id, name)
					}
					r.Authorizer = s
				}
			}
			if r.Authorizer == "NONE" {
				r.Authorizer = ""
			}
			routes = append(routes, r)
		}
	}
	slices.SortFunc(routes, func(a, b HTTPRoute) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	for i := 1; i < len(routes); i++ {
		a, b := routes[i-1], routes[i]
		if a.API == b.API && a.Path == b.Path && a.Method == b.Method {
			return nil, fmt.Errorf("route %s %s of %s is bound to both %s and %s", a.Method, a.Path, a.API, a.Function, b.Function)
		}
	}
	return routes, nil
}

// defaultAuthorizer returns the DefaultAuthorizer of a SAM HTTP API ("" if none).
func (t *Template) defaultAuthorizer(api string) string {
	res, ok := t.Resources[api]
	if !ok {
		return ""
	}
	auth, _ := res.Properties["Auth"].(map[string]any)
	s, _ := auth["DefaultAuthorizer"].(string)
	return s
}

// refName returns X for {"Ref": "X"}, else "".
func refName(v any) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return ""
	}
	s, _ := m["Ref"].(string)
	return s
}

// getAtt returns resource and attribute of {"Fn::GetAtt": [R, A]}.
func getAtt(v any) (resource, attribute string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", ""
	}
	args, ok := m["Fn::GetAtt"].([]any)
	if !ok || len(args) != 2 {
		return "", ""
	}
	resource, _ = args[0].(string)
	attribute, _ = args[1].(string)
	return resource, attribute
}

// subString returns the template string of {"Fn::Sub": s} or
// {"Fn::Sub": [s, vars]}.
func subString(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	switch a := m["Fn::Sub"].(type) {
	case string:
		return a, true
	case []any:
		if len(a) >= 1 {
			s, ok := a[0].(string)
			return s, ok
		}
	}
	return "", false
}
