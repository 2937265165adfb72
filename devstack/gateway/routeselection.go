package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
)

// routeSelector evaluates a WebSocket route selection expression against a
// message body. It returns "" when the expression selects nothing.
type routeSelector func(body []byte) string

// parseRouteSelection compiles the expressions API Gateway accepts for
// message bodies: "$request.body.<path>" and "${request.body.<path>}", where
// <path> is one or more JSON property names separated by dots.
func parseRouteSelection(expr string) (routeSelector, error) {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "${") && strings.HasSuffix(e, "}") {
		e = "$" + e[2:len(e)-1]
	}
	path, ok := strings.CutPrefix(e, "$request.body.")
	if !ok {
		return nil, fmt.Errorf("route selection expression %q: only $request.body.<path> is supported", expr)
	}
	fields := strings.Split(path, ".")
	for _, f := range fields {
		if f == "" {
			return nil, fmt.Errorf("route selection expression %q: empty property name", expr)
		}
	}
	return func(body []byte) string {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return ""
		}
		for _, f := range fields {
			m, ok := v.(map[string]any)
			if !ok {
				return ""
			}
			v = m[f]
		}
		s, _ := v.(string)
		return s
	}, nil
}
