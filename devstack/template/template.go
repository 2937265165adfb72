package template

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// Template is a decoded CloudFormation / AWS SAM template. Intrinsic
// functions are left unresolved, in their long forms.
type Template struct {
	FormatVersion string
	Transform     []string
	Description   string
	Parameters    map[string]Parameter
	Conditions    map[string]any
	// Globals is SAM's Globals section, e.g. Globals["Function"].
	Globals   map[string]any
	Resources map[string]Resource
	Outputs   map[string]Output
}

// Parameter is one entry of the Parameters section.
type Parameter struct {
	Type        string
	Description string
	// Default is the default value as CloudFormation sees it: a string
	// (a list parameter's default is comma-separated). HasDefault says
	// whether one was given.
	Default       string
	HasDefault    bool
	AllowedValues []string
}

// Resource is one entry of the Resources section.
type Resource struct {
	Type       string
	Condition  string
	DependsOn  []string
	Properties map[string]any
	Metadata   map[string]any
}

// Output is one entry of the Outputs section.
type Output struct {
	Description string
	Value       any
}

// Load reads and decodes the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", path, err)
	}
	return t, nil
}

// Parse decodes a template from YAML (or JSON, which is YAML).
func Parse(data []byte) (*Template, error) {
	raw, err := decodeYAML(data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	top, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("top level is %s, want a mapping", kind(raw))
	}
	t := &Template{
		Parameters: map[string]Parameter{},
		Conditions: map[string]any{},
		Globals:    map[string]any{},
		Resources:  map[string]Resource{},
		Outputs:    map[string]Output{},
	}
	for key, v := range top {
		switch key {
		case "AWSTemplateFormatVersion":
			t.FormatVersion = fmt.Sprint(v)
		case "Description":
			t.Description, _ = v.(string)
		case "Transform":
			switch tv := v.(type) {
			case string:
				t.Transform = []string{tv}
			case []any:
				for _, x := range tv {
					s, ok := x.(string)
					if !ok {
						return nil, fmt.Errorf("an entry of Transform is %s, want a string", kind(x))
					}
					t.Transform = append(t.Transform, s)
				}
			default:
				return nil, fmt.Errorf("section Transform is %s, want a string or a list", kind(v))
			}
		case "Parameters":
			if err := decodeSection(v, key, func(name string, m map[string]any) error {
				p, err := parseParameter(m)
				t.Parameters[name] = p
				return err
			}); err != nil {
				return nil, err
			}
		case "Conditions":
			m, ok := v.(map[string]any)
			if !ok && v != nil {
				return nil, fmt.Errorf("section Conditions is %s, want a mapping", kind(v))
			}
			t.Conditions = m
		case "Globals":
			m, ok := v.(map[string]any)
			if !ok && v != nil {
				return nil, fmt.Errorf("section Globals is %s, want a mapping", kind(v))
			}
			t.Globals = m
		case "Resources":
			if err := decodeSection(v, key, func(name string, m map[string]any) error {
				r, err := parseResource(m)
				t.Resources[name] = r
				return err
			}); err != nil {
				return nil, err
			}
		case "Outputs":
			if err := decodeSection(v, key, func(name string, m map[string]any) error {
				desc, _ := m["Description"].(string)
				t.Outputs[name] = Output{Description: desc, Value: m["Value"]}
				if m["Value"] == nil {
					return fmt.Errorf("no Value")
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	if len(t.Resources) == 0 {
		return nil, fmt.Errorf("no resources")
	}
	if t.Conditions == nil {
		t.Conditions = map[string]any{}
	}
	if t.Globals == nil {
		t.Globals = map[string]any{}
	}
	return t, nil
}

func decodeSection(v any, section string, each func(name string, m map[string]any) error) error {
	if v == nil {
		return nil
	}
	entries, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s is %s, want a mapping", section, kind(v))
	}
	for name, e := range entries {
		m, ok := e.(map[string]any)
		if !ok {
			return fmt.Errorf("%s.%s is %s, want a mapping", section, name, kind(e))
		}
		if err := each(name, m); err != nil {
			return fmt.Errorf("%s.%s: %w", section, name, err)
		}
	}
	return nil
}

func parseParameter(m map[string]any) (Parameter, error) {
	var p Parameter
	var ok bool
	if p.Type, ok = m["Type"].(string); !ok {
		return p, fmt.Errorf("no Type")
	}
	p.Description, _ = m["Description"].(string)
	if d, found := m["Default"]; found {
		p.HasDefault = true
		switch dv := d.(type) {
		case []any: // a list default written as a YAML sequence
			parts := make([]string, 0, len(dv))
			for _, x := range dv {
				parts = append(parts, fmt.Sprint(x))
			}
			p.Default = strings.Join(parts, ",")
		case map[string]any:
			return p, fmt.Errorf("default is a mapping, want a scalar")
		case nil:
			p.Default = ""
		default:
			p.Default = fmt.Sprint(dv)
		}
	}
	if av, found := m["AllowedValues"].([]any); found {
		for _, x := range av {
			p.AllowedValues = append(p.AllowedValues, fmt.Sprint(x))
		}
	}
	return p, nil
}

func parseResource(m map[string]any) (Resource, error) {
	var r Resource
	var ok bool
	if r.Type, ok = m["Type"].(string); !ok || r.Type == "" {
		return r, fmt.Errorf("no Type")
	}
	r.Condition, _ = m["Condition"].(string)
	switch d := m["DependsOn"].(type) {
	case string:
		r.DependsOn = []string{d}
	case []any:
		for _, x := range d {
			s, ok := x.(string)
			if !ok {
				return r, fmt.Errorf("an entry of DependsOn is %s, want a string", kind(x))
			}
			r.DependsOn = append(r.DependsOn, s)
		}
	}
	if p, found := m["Properties"]; found && p != nil {
		if r.Properties, ok = p.(map[string]any); !ok {
			return r, fmt.Errorf("property section is %s, want a mapping", kind(p))
		}
	}
	if md, found := m["Metadata"]; found && md != nil {
		if r.Metadata, ok = md.(map[string]any); !ok {
			return r, fmt.Errorf("metadata section is %s, want a mapping", kind(md))
		}
	}
	if r.Properties == nil {
		r.Properties = map[string]any{}
	}
	return r, nil
}

// ResourcesOfType returns the logical ids of the resources of type typ, sorted.
func (t *Template) ResourcesOfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// kind names the decoded type of v for error messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "empty"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, float64:
		return "a number"
	default:
		return fmt.Sprintf("%T", v)
	}
}
