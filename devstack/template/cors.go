package template

import (
	"fmt"
	"strconv"
	"strings"
)

// HTTPCORS is the CorsConfiguration of a SAM HTTP API, with parameter
// references resolved.
type HTTPCORS struct {
	AllowOrigins     []string
	AllowMethods     []string
	AllowHeaders     []string
	ExposeHeaders    []string
	MaxAge           int
	AllowCredentials bool
}

// HTTPAPICORS returns the CORS configuration of the SAM HTTP API api (nil
// when it has none). A !Ref to a parameter takes the value in params, else
// the parameter's default; a CommaDelimitedList parameter gives its items.
func (t *Template) HTTPAPICORS(api string, params map[string]string) (*HTTPCORS, error) {
	res, ok := t.Resources[api]
	if !ok {
		return nil, fmt.Errorf("no resource %s", api)
	}
	cfg, found := res.Properties["CorsConfiguration"]
	if !found || cfg == nil {
		return nil, nil
	}
	m, ok := cfg.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: CorsConfiguration is %s, want a mapping", api, kind(cfg))
	}
	list := func(key string) ([]string, error) {
		v, found := m[key]
		if !found {
			return nil, nil
		}
		if name := refName(v); name != "" {
			p, ok := t.Parameters[name]
			if !ok {
				return nil, fmt.Errorf("%s: CorsConfiguration.%s refers to %s, which is not a parameter", api, key, name)
			}
			val, given := params[name]
			if !given {
				val = p.Default
			}
			var out []string
			for _, item := range strings.Split(val, ",") {
				if item = strings.TrimSpace(item); item != "" {
					out = append(out, item)
				}
			}
			return out, nil
		}
		items, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: CorsConfiguration.%s is %s, want a list or a !Ref", api, key, kind(v))
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("%s: CorsConfiguration.%s holds %s, want strings", api, key, kind(it))
			}
			out = append(out, s)
		}
		return out, nil
	}
	var c HTTPCORS
	var err error
	if c.AllowOrigins, err = list("AllowOrigins"); err != nil {
		return nil, err
	}
	if c.AllowMethods, err = list("AllowMethods"); err != nil {
		return nil, err
	}
	if c.AllowHeaders, err = list("AllowHeaders"); err != nil {
		return nil, err
	}
	if c.ExposeHeaders, err = list("ExposeHeaders"); err != nil {
		return nil, err
	}
	if v, found := m["MaxAge"]; found {
		n, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil {
			return nil, fmt.Errorf("%s: CorsConfiguration.MaxAge %v is not a whole number", api, v)
		}
		c.MaxAge = n
	}
	if v, found := m["AllowCredentials"]; found {
		c.AllowCredentials = fmt.Sprint(v) == "true"
	}
	return &c, nil
}
