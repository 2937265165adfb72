package template

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// shortForms maps CloudFormation's short-form YAML tags to the key of the
// equivalent long form.
var shortForms = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!Base64":       "Fn::Base64",
	"!Cidr":         "Fn::Cidr",
	"!FindInMap":    "Fn::FindInMap",
	"!GetAtt":       "Fn::GetAtt",
	"!GetAZs":       "Fn::GetAZs",
	"!ImportValue":  "Fn::ImportValue",
	"!Join":         "Fn::Join",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!Sub":          "Fn::Sub",
	"!Transform":    "Fn::Transform",
	"!And":          "Fn::And",
	"!Equals":       "Fn::Equals",
	"!If":           "Fn::If",
	"!Not":          "Fn::Not",
	"!Or":           "Fn::Or",
	"!ToJsonString": "Fn::ToJsonString",
	"!Length":       "Fn::Length",
}

// decodeYAML parses one YAML document into plain Go values: map[string]any,
// []any, string, int, float64, bool and nil, with short-form intrinsic tags
// rewritten to their long forms.
func decodeYAML(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 {
		return nil, fmt.Errorf("empty document")
	}
	return convert(&doc)
}

func convert(n *yaml.Node) (any, error) {
	if long, ok := shortForms[n.Tag]; ok {
		v, err := convertUntagged(n)
		if err != nil {
			return nil, err
		}
		if long == "Fn::GetAtt" {
			if s, ok := v.(string); ok {
				// !GetAtt Resource.Attribute; attributes may contain dots
				// (Endpoint.Address), resource ids may not.
				res, attr, found := strings.Cut(s, ".")
				if !found || res == "" || attr == "" {
					return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
				}
				v = []any{res, attr}
			}
		}
		return map[string]any{long: v}, nil
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	return convertUntagged(n)
}

// convertUntagged converts n ignoring a short-form tag on n itself.
func convertUntagged(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("want one YAML document, got %d", len(n.Content))
		}
		return convert(n.Content[0])
	case yaml.AliasNode:
		return convert(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: YAML merge keys (<<) are not supported", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := convert(vn)
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.ScalarNode:
		return scalar(n)
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
	}
}

func scalar(n *yaml.Node) (any, error) {
	if shortForms[n.Tag] != "" {
		// A short-form tag on a scalar: the content is a string (!Ref X).
		return n.Value, nil
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int
		if err := n.Decode(&i); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return i, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return f, nil
	default: // !!str, !!timestamp ("2010-09-09"), !!binary
		return n.Value, nil
	}
}
