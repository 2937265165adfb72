package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Defaults for HTTPConfig, API Gateway HTTP API's own values.
const (
	DefaultHTTPStage        = "$default"
	DefaultHTTPTimeout      = 30 * time.Second
	DefaultHTTPMaxBodyBytes = 10 << 20
)

// HTTPRoute routes requests to a function, like an AWS::Serverless::Function
// event of type HttpApi.
type HTTPRoute struct {
	// Method is an HTTP method or "ANY".
	Method string
	// Path is "/", a path of literal and "{name}" segments, optionally
	// ending in a greedy "{name+}" segment ("/{proxy+}"), or "$default" for
	// the route that catches what no other route matches.
	Path string
	// Function is the name of the function to invoke.
	Function string
	// Authorizer names the JWT authorizer protecting the route ("" for none).
	Authorizer string
}

// JWTAuthorizer emulates an HTTP API JWT authorizer: it verifies the
// request's bearer token (signature, issuer, audience, expiry) and returns
// its claims as API Gateway passes them (list claims as "[a b]") and its
// scopes. An error makes the emulator answer 401 {"message":"Unauthorized"}
// without invoking the function, as API Gateway does.
type JWTAuthorizer func(r *http.Request) (claims map[string]string, scopes []string, err error)

// CORS is an HTTP API's CORS configuration (CorsConfiguration). With it
// the emulator does what API Gateway documents
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html):
// an OPTIONS request that no route matches is a preflight the gateway
// answers itself (204 with the configured Access-Control-* headers, no
// authorizer, no function); an OPTIONS request that a route matches (an
// ANY route, say) goes through that route's authorizer and integration
// like any other request; and for a request with an Origin the gateway
// replaces the integration's Access-Control-* headers with the configured
// ones.
type CORS struct {
	// AllowOrigins are the allowed origins; "*" allows any.
	AllowOrigins []string
	AllowMethods []string
	AllowHeaders []string
	// ExposeHeaders are headers a browser script may read.
	ExposeHeaders []string
	// MaxAge is how long a preflight may be cached, in seconds (0: unset).
	MaxAge int
	// AllowCredentials sends Access-Control-Allow-Credentials: true.
	AllowCredentials bool
}

// allowOrigin returns the Access-Control-Allow-Origin value for origin, ""
// when the origin is not allowed.
func (c *CORS) allowOrigin(origin string) string {
	for _, o := range c.AllowOrigins {
		if o == "*" {
			if c.AllowCredentials {
				return origin
			}
			return "*"
		}
		if strings.EqualFold(o, origin) {
			return origin
		}
	}
	return ""
}

// HTTPConfig configures the HTTP API emulator.
type HTTPConfig struct {
	// CORS is the API's CORS configuration (nil: none; then an OPTIONS
	// request no route matches is 404, as on API Gateway).
	CORS *CORS
	// Authorizers are the JWT authorizers routes name. A route naming an
	// authorizer that is missing here is refused (500), never left open.
	Authorizers map[string]JWTAuthorizer
	// Routes are the API's routes. Required.
	Routes []HTTPRoute
	// Invoker runs the functions. Required.
	Invoker Invoker
	// Stage is requestContext.stage (empty: DefaultHTTPStage). A stage other
	// than "$default" is part of the URL, as on API Gateway: requests must
	// start with "/{stage}", which is not part of the path routes match.
	Stage string
	// DomainName is requestContext.domainName (empty: the request's Host).
	DomainName string
	// APIID is requestContext.apiId (empty: a random 10-character id).
	APIID string
	// Timeout bounds each invocation; past it the client gets 503 (empty:
	// DefaultHTTPTimeout, the HTTP API's 30 s).
	Timeout time.Duration
	// MaxBodyBytes bounds request bodies; larger ones get 413 (empty:
	// DefaultHTTPMaxBodyBytes).
	MaxBodyBytes int64
	// Logger receives the emulator's log (nil: slog.Default()).
	Logger *slog.Logger
}

// Validate reports what is wrong with c, if anything.
func (c HTTPConfig) Validate() error {
	_, err := compileHTTPRoutes(c.Routes)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if c.Invoker == nil {
		errs = append(errs, errors.New("no Invoker"))
	}
	if len(c.Routes) == 0 {
		errs = append(errs, errors.New("no routes"))
	}
	if c.Timeout < 0 || c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("negative timeout or body limit"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("HTTP API config: %w", err)
	}
	return nil
}

// NewHTTPAPI returns an http.Handler emulating an API Gateway HTTP API with
// Lambda proxy integrations and payload format 2.0: each request becomes an
// events.APIGatewayV2HTTPRequest (version, routeKey, rawPath,
// rawQueryString, cookies, lower-cased headers with repeated values
// comma-joined, queryStringParameters likewise, pathParameters,
// requestContext with http.method/path/protocol/sourceIp/userAgent,
// requestId, stage, time/timeEpoch, domainName, and the body, base64-encoded
// unless its Content-Type is textual and it is valid UTF-8), and the
// function's events.APIGatewayV2HTTPResponse becomes the HTTP response
// (statusCode, headers, multiValueHeaders, cookies as Set-Cookie, body,
// isBase64Encoded). A function result without a statusCode is, as on API
// Gateway, a 200 application/json response with that result as the body.
//
// Routing follows API Gateway: the most specific path wins (literal
// segments over {variables} over {greedy+}), a route for the request's method
// over ANY, and $default catches the rest; no match is 404
// {"message":"Not Found"}. A route path never matches a request path with an
// extra trailing slash; a greedy variable takes it ("/{proxy+}" gives proxy
// "terminals/t1/logs/" for "/terminals/t1/logs/"). An invocation error
// (a throttled one included: LimitConcurrency) or an invalid response is
// 500 {"message":"Internal Server Error"}, a timeout 503
// {"message":"Service Unavailable"}.
//
// JWT authorizers are emulated by the Authorizers given; CORS as [CORS]
// says. Not emulated: throttling, custom domains, mTLS, stage variables,
// and payload format 1.0.
//
// If cfg is invalid (see Validate) the error is logged and every request is
// answered 500 with it.
func NewHTTPAPI(cfg HTTPConfig) http.Handler {
	h := &httpAPI{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.cfg.Stage == "" {
		h.cfg.Stage = DefaultHTTPStage
	}
	if h.cfg.APIID == "" {
		h.cfg.APIID = newAPIID()
	}
	if h.cfg.Timeout == 0 {
		h.cfg.Timeout = DefaultHTTPTimeout
	}
	if h.cfg.MaxBodyBytes == 0 {
		h.cfg.MaxBodyBytes = DefaultHTTPMaxBodyBytes
	}
	if err := cfg.Validate(); err != nil {
		h.cfgErr = err
		h.log.Error("HTTP API emulator misconfigured; refusing all requests", "error", err)
		return h
	}
	h.routes, _ = compileHTTPRoutes(cfg.Routes)
	return h
}

type httpAPI struct {
	cfg    HTTPConfig
	cfgErr error
	routes []compiledRoute
	log    *slog.Logger
}

type segmentKind int

const (
	greedySegment segmentKind = iota
	variableSegment
	literalSegment
)

type segment struct {
	kind segmentKind
	text string // literal text or variable name
}

type compiledRoute struct {
	HTTPRoute
	key       string
	isDefault bool
	segments  []segment
}

func compileHTTPRoutes(routes []HTTPRoute) ([]compiledRoute, error) {
	var out []compiledRoute
	var errs []error
	seen := map[string]bool{}
	for _, r := range routes {
		c, err := compileHTTPRoute(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[c.key] {
			errs = append(errs, fmt.Errorf("route %q: defined twice", c.key))
			continue
		}
		seen[c.key] = true
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

func compileHTTPRoute(r HTTPRoute) (compiledRoute, error) {
	c := compiledRoute{HTTPRoute: r}
	if r.Function == "" {
		return c, fmt.Errorf("route %s %s: no function", r.Method, r.Path)
	}
	if r.Path == RouteDefault {
		c.key, c.isDefault = RouteDefault, true
		return c, nil
	}
	c.Method = strings.ToUpper(r.Method)
	if c.Method == "" || strings.ContainsAny(c.Method, " /") {
		return c, fmt.Errorf("route %q %s: invalid method", r.Method, r.Path)
	}
	c.key = c.Method + " " + r.Path
	if !strings.HasPrefix(r.Path, "/") {
		return c, fmt.Errorf("route %q: path must start with /", c.key)
	}
	if r.Path == "/" {
		return c, nil
	}
	parts := strings.Split(r.Path[1:], "/")
	for i, p := range parts {
		switch {
		case p == "":
			return c, fmt.Errorf("route %q: empty path segment", c.key)
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}"):
			if i != len(parts)-1 {
				return c, fmt.Errorf("route %q: a greedy variable must be the last segment", c.key)
			}
			c.segments = append(c.segments, segment{greedySegment, p[1 : len(p)-2]})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			c.segments = append(c.segments, segment{variableSegment, p[1 : len(p)-1]})
		case strings.ContainsAny(p, "{}"):
			return c, fmt.Errorf("route %q: malformed segment %q", c.key, p)
		default:
			c.segments = append(c.segments, segment{literalSegment, p})
		}
		if s := c.segments[len(c.segments)-1]; s.kind != literalSegment && s.text == "" {
			return c, fmt.Errorf("route %q: unnamed variable", c.key)
		}
	}
	return c, nil
}

// match matches the decoded request path against the route.
func (c *compiledRoute) match(method, path string) (map[string]string, bool) {
	if c.isDefault || (c.Method != "ANY" && c.Method != method) || !strings.HasPrefix(path, "/") {
		return nil, false
	}
	rest := path[1:]
	if len(c.segments) == 0 {
		return nil, rest == ""
	}
	params := map[string]string{}
	for i, s := range c.segments {
		if s.kind == greedySegment {
			if rest == "" {
				return nil, false
			}
			params[s.text] = rest
			return params, true
		}
		part, after, more := strings.Cut(rest, "/")
		if part == "" {
			return nil, false
		}
		if s.kind == literalSegment && part != s.text {
			return nil, false
		}
		if s.kind == variableSegment {
			params[s.text] = part
		}
		last := i == len(c.segments)-1
		if last != !more { // segments left over, or path left over
			return nil, false
		}
		rest = after
	}
	return params, true
}

// moreSpecific reports whether c beats d for the same request.
func (c *compiledRoute) moreSpecific(d *compiledRoute) bool {
	for i := 0; i < len(c.segments) && i < len(d.segments); i++ {
		if c.segments[i].kind != d.segments[i].kind {
			return c.segments[i].kind > d.segments[i].kind
		}
	}
	if len(c.segments) != len(d.segments) {
		return len(c.segments) > len(d.segments)
	}
	return c.Method != "ANY" && d.Method == "ANY"
}

func (h *httpAPI) route(method, path string) (*compiledRoute, map[string]string) {
	var best *compiledRoute
	var bestParams map[string]string
	var fallback *compiledRoute
	for i := range h.routes {
		r := &h.routes[i]
		if r.isDefault {
			fallback = r
			continue
		}
		if params, ok := r.match(method, path); ok && (best == nil || r.moreSpecific(best)) {
			best, bestParams = r, params
		}
	}
	if best == nil {
		return fallback, nil
	}
	if len(bestParams) == 0 {
		bestParams = nil
	}
	return best, bestParams
}

func (h *httpAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newGatewayID()
	w.Header().Set("Apigw-Requestid", requestID)
	if h.cfgErr != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": h.cfgErr.Error()})
		return
	}
	now := time.Now()
	path := r.URL.Path
	if h.cfg.Stage != DefaultHTTPStage {
		prefix := "/" + h.cfg.Stage
		if path != prefix && !strings.HasPrefix(path, prefix+"/") {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		path = strings.TrimPrefix(path, prefix)
		if path == "" {
			path = "/"
		}
	}
	route, params := h.route(r.Method, path)
	if route == nil && r.Method == http.MethodOptions && h.cfg.CORS != nil {
		h.preflight(w, r)
		return
	}
	if route == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	var authz *events.APIGatewayV2HTTPRequestContextAuthorizerDescription
	if route.Authorizer != "" {
		// A matched route runs its authorizer for every method, OPTIONS
		// included: only a preflight that no route matches is answered
		// by the gateway without one.
		verify, ok := h.cfg.Authorizers[route.Authorizer]
		if !ok {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "authorizer " + route.Authorizer + " is not configured"})
			return
		}
		claims, scopes, err := verify(r)
		if err != nil {
			h.log.DebugContext(r.Context(), "JWT refused", "path", path, "error", err)
			w.Header().Set("Www-Authenticate", `Bearer error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthorized"})
			return
		}
		authz = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: scopes}}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBodyBytes+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Bad Request"})
		return
	}
	if int64(len(body)) > h.cfg.MaxBodyBytes {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"message": "Request Entity Too Large"})
		return
	}

	ev := h.event(r, route, params, requestID, now, body)
	ev.RequestContext.Authorizer = authz
	payload, err := json.Marshal(ev)
	if err != nil {
		h.log.ErrorContext(r.Context(), "encode HTTP API event", "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	out, err := h.cfg.Invoker.Invoke(ctx, route.Function, payload)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			h.log.ErrorContext(r.Context(), "HTTP API integration timed out", "route", route.key, "function", route.Function, "timeout", h.cfg.Timeout)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "Service Unavailable"})
			return
		}
		if errors.Is(err, ErrThrottled) {
			h.log.WarnContext(r.Context(), "HTTP API integration throttled", "route", route.key, "function", route.Function)
		} else {
			h.log.ErrorContext(r.Context(), "HTTP API invocation failed", "route", route.key, "function", route.Function, "error", err)
		}
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	resp, err := decodeV2Response(out)
	if err != nil {
		h.log.ErrorContext(r.Context(), "HTTP API function returned an invalid response", "route", route.key, "function", route.Function, "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	if h.cfg.CORS != nil {
		resp = h.withCORS(resp, r.Header.Get("Origin"))
	}
	writeV2Response(w, resp)
}

// preflight answers an OPTIONS request no route matched, as API Gateway
// does when the API has a CORS configuration.
func (h *httpAPI) preflight(w http.ResponseWriter, r *http.Request) {
	c := h.cfg.CORS
	hdr := w.Header()
	if allowed := c.allowOrigin(r.Header.Get("Origin")); allowed != "" {
		hdr.Set("Access-Control-Allow-Origin", allowed)
		if len(c.AllowMethods) > 0 {
			hdr.Set("Access-Control-Allow-Methods", strings.Join(c.AllowMethods, ","))
		}
		if len(c.AllowHeaders) > 0 {
			hdr.Set("Access-Control-Allow-Headers", strings.Join(c.AllowHeaders, ","))
		}
		if c.MaxAge > 0 {
			hdr.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
		}
		if c.AllowCredentials {
			hdr.Set("Access-Control-Allow-Credentials", "true")
		}
		if allowed != "*" {
			hdr.Add("Vary", "Origin")
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// withCORS replaces the integration's CORS headers by the configured ones
// (for a request with an allowed Origin): with a CORS configuration API
// Gateway ignores the backend's.
func (h *httpAPI) withCORS(resp events.APIGatewayV2HTTPResponse, origin string) events.APIGatewayV2HTTPResponse {
	c := h.cfg.CORS
	headers := map[string]string{}
	for k, v := range resp.Headers {
		if !strings.HasPrefix(strings.ToLower(k), "access-control-") {
			headers[k] = v
		}
	}
	multi := map[string][]string{}
	for k, vs := range resp.MultiValueHeaders {
		if !strings.HasPrefix(strings.ToLower(k), "access-control-") {
			multi[k] = vs
		}
	}
	if allowed := c.allowOrigin(origin); origin != "" && allowed != "" {
		headers["Access-Control-Allow-Origin"] = allowed
		if len(c.ExposeHeaders) > 0 {
			headers["Access-Control-Expose-Headers"] = strings.Join(c.ExposeHeaders, ",")
		}
		if c.AllowCredentials {
			headers["Access-Control-Allow-Credentials"] = "true"
		}
	}
	resp.Headers, resp.MultiValueHeaders = headers, multi
	return resp
}

// event builds the payload format 2.0 event for r.
func (h *httpAPI) event(r *http.Request, route *compiledRoute, params map[string]string, requestID string, now time.Time, body []byte) events.APIGatewayV2HTTPRequest {
	sourceIP := remoteIP(r)
	headers := map[string]string{}
	var cookies []string
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lk] = strings.Join(vs, ",")
	}
	headers["host"] = r.Host
	if prior := headers["x-forwarded-for"]; prior != "" {
		headers["x-forwarded-for"] = prior + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-proto"] = scheme(r)
	if _, port, err := net.SplitHostPort(localAddr(r)); err == nil {
		headers["x-forwarded-port"] = port
	}
	if _, ok := headers["content-length"]; !ok && r.ContentLength > 0 {
		headers["content-length"] = fmt.Sprint(r.ContentLength)
	}

	var query map[string]string
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && len(q) > 0 {
		query = make(map[string]string, len(q))
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}

	domain := h.cfg.DomainName
	if domain == "" {
		domain = r.Host
	}
	prefix, _, _ := strings.Cut(domain, ".")
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              route.key,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     route.key,
			AccountID:    "000000000000",
			Stage:        h.cfg.Stage,
			RequestID:    requestID,
			APIID:        h.cfg.APIID,
			DomainName:   domain,
			DomainPrefix: prefix,
			Time:         now.UTC().Format(requestTimeLayout),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isTextual(r.Header) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isTextual reports whether a body with these headers reaches the function
// as text: no Content-Encoding, and a textual Content-Type (or none).
func isTextual(h http.Header) bool {
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript",
		"application/x-www-form-urlencoded", "application/graphql", "application/x-ndjson":
		return true
	}
	return false
}

// decodeV2Response reads a function result as payload format 2.0 does.
func decodeV2Response(out []byte) (events.APIGatewayV2HTTPResponse, error) {
	out = bytes.TrimSpace(out)
	var probe map[string]json.RawMessage
	if len(out) > 0 && out[0] == '{' {
		if err := json.Unmarshal(out, &probe); err != nil {
			return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("decode response: %w", err)
		}
	}
	if _, ok := probe["statusCode"]; !ok {
		if !json.Valid(out) {
			return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("response is not JSON: %.100q", out)
		}
		return events.APIGatewayV2HTTPResponse{
			StatusCode: http.StatusOK,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       string(out),
		}, nil
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("decode response: %w", err)
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return resp, fmt.Errorf("invalid statusCode %d", resp.StatusCode)
	}
	if resp.IsBase64Encoded {
		if _, err := base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return resp, fmt.Errorf("decode base64 body: %w", err)
		}
	}
	return resp, nil
}

func writeV2Response(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	hdr := w.Header()
	for k, v := range resp.Headers {
		hdr.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		hdr.Del(k)
		for _, v := range vs {
			hdr.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		hdr.Add("Set-Cookie", c)
	}
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil // send none rather than a sniffed one
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		body, _ = base64.StdEncoding.DecodeString(resp.Body) // checked in decodeV2Response
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}
