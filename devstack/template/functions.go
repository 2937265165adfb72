package template

import (
	"fmt"
	"maps"
)

// Serverless resource types.
const (
	// TypeServerlessFunction is SAM's function resource type.
	TypeServerlessFunction = "AWS::Serverless::Function"
	// TypeLambdaFunction is CloudFormation's function resource type.
	TypeLambdaFunction = "AWS::Lambda::Function"
)

// Function is an AWS::Serverless::Function with SAM's Globals merged in.
type Function struct {
	LogicalID string
	// Properties are the function's properties merged over
	// Globals.Function: mappings merge key by key (the function wins),
	// lists are concatenated (Globals first), anything else the function's
	// value replaces.
	Properties map[string]any
	Metadata   map[string]any

	// Typed views of common settings; empty when absent or given by an
	// intrinsic function.
	CodeURI       string
	Handler       string
	Runtime       string
	Architectures []string
	// BuildMethod is Metadata.BuildMethod, e.g. "go1.x".
	BuildMethod string
}

// Functions returns the template's AWS::Serverless::Function resources,
// sorted by logical id.
func (t *Template) Functions() ([]Function, error) {
	ids := t.ResourcesOfType(TypeServerlessFunction)
	out := make([]Function, 0, len(ids))
	for _, id := range ids {
		f, err := t.Function(id)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Function returns the AWS::Serverless::Function logicalID with Globals merged.
func (t *Template) Function(logicalID string) (Function, error) {
	r, ok := t.Resources[logicalID]
	if !ok {
		return Function{}, fmt.Errorf("function %s: no such resource", logicalID)
	}
	if r.Type != TypeServerlessFunction {
		return Function{}, fmt.Errorf("function %s: resource type is %s, want %s", logicalID, r.Type, TypeServerlessFunction)
	}
	props := maps.Clone(r.Properties)
	if g, ok := t.Globals["Function"].(map[string]any); ok {
		merged, _ := mergeGlobals(g, r.Properties).(map[string]any)
		props = merged
	}
	f := Function{LogicalID: logicalID, Properties: props, Metadata: r.Metadata}
	f.CodeURI, _ = props["CodeUri"].(string)
	f.Handler, _ = props["Handler"].(string)
	f.Runtime, _ = props["Runtime"].(string)
	if archs, ok := props["Architectures"].([]any); ok {
		for _, a := range archs {
			if s, ok := a.(string); ok {
				f.Architectures = append(f.Architectures, s)
			}
		}
	}
	f.BuildMethod, _ = r.Metadata["BuildMethod"].(string)
	return f, nil
}

// mergeGlobals merges a resource's value over the Globals value following
// SAM's rules. Intrinsic functions are values, not mappings to merge.
func mergeGlobals(global, local any) any {
	if local == nil {
		return global
	}
	gm, gok := global.(map[string]any)
	lm, lok := local.(map[string]any)
	if gok && lok && !isIntrinsic(gm) && !isIntrinsic(lm) {
		out := maps.Clone(gm)
		for k, v := range lm {
			out[k] = mergeGlobals(gm[k], v)
		}
		return out
	}
	gl, gok := global.([]any)
	ll, lok := local.([]any)
	if gok && lok {
		return append(append([]any{}, gl...), ll...)
	}
	return local
}

// isIntrinsic reports whether m is an intrinsic function (a one-key mapping
// whose key is Ref, Condition or Fn::something).
func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || len(k) > 4 && k[:4] == "Fn::"
	}
	return false
}
