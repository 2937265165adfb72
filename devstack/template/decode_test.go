package template

import (
	"reflect"
	"strings"
	"testing"
)

func TestDecodeShortFormTags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want any
	}{
		{"Ref", `v: !Ref Table`, map[string]any{"Ref": "Table"}},
		{"Sub string", `v: !Sub "https://${Api}.example/${Stage}"`, map[string]any{"Fn::Sub": "https://${Api}.example/${Stage}"}},
		{"Sub list", `v: !Sub ["${A}-${B}", {B: !Ref X}]`, map[string]any{"Fn::Sub": []any{"${A}-${B}", map[string]any{"B": map[string]any{"Ref": "X"}}}}},
		{"GetAtt scalar", `v: !GetAtt Table.Arn`, map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}},
		{"GetAtt dotted attribute", `v: !GetAtt Db.Endpoint.Address`, map[string]any{"Fn::GetAtt": []any{"Db", "Endpoint.Address"}}},
		{"GetAtt list", `v: !GetAtt [Table, Arn]`, map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}},
		{"Join with nested Ref", `v: !Join [",", [a, !Ref B]]`, map[string]any{"Fn::Join": []any{",", []any{"a", map[string]any{"Ref": "B"}}}}},
		{"If with NoValue", `v: !If [Cond, KMS, !Ref AWS::NoValue]`, map[string]any{"Fn::If": []any{"Cond", "KMS", map[string]any{"Ref": "AWS::NoValue"}}}},
		{"Equals", `v: !Equals [!Ref K, ""]`, map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "K"}, ""}}},
		{"Not Equals", `v: !Not [!Equals [a, b]]`, map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{"a", "b"}}}}},
		{"Select Split", `v: !Select [0, !Split [",", "a,b"]]`, map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::Split": []any{",", "a,b"}}}}},
		{"Condition", `v: !Condition IsProd`, map[string]any{"Condition": "IsProd"}},
		{"GetAZs empty", `v: !GetAZs ""`, map[string]any{"Fn::GetAZs": ""}},
		{"Base64 of Sub", `v: !Base64 {"Fn::Sub": "x"}`, map[string]any{"Fn::Base64": map[string]any{"Fn::Sub": "x"}}},
		{"long form untouched", `v: {"Fn::GetAtt": [T, Arn]}`, map[string]any{"Fn::GetAtt": []any{"T", "Arn"}}},
		{"int", `v: 128`, 128},
		{"bool", `v: true`, true},
		{"float", `v: 0.5`, 0.5},
		{"null", `v: ~`, nil},
		{"date stays a string", `v: 2010-09-09`, "2010-09-09"},
		{"quoted number stays a string", `v: "300"`, "300"},
		{"alias", "a: &x [1, 2]\nv: *x", []any{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeYAML([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("decodeYAML(%q): %v", tt.yaml, err)
			}
			v := got.(map[string]any)["v"]
			if !reflect.DeepEqual(v, tt.want) {
				t.Errorf("decodeYAML(%q)[v] = %#v, want %#v", tt.yaml, v, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"unknown tag", `v: !Frobnicate x`, "unknown tag !Frobnicate"},
		{"GetAtt without attribute", `v: !GetAtt Table`, "want Resource.Attribute"},
		{"duplicate key", "v: 1\nv: 2", `duplicate key "v"`},
		{"merge key", "a: &x {k: 1}\nv:\n  <<: *x", "merge keys"},
		{"syntax", "v: [1, 2", "did not find expected"},
		{"empty", "", "empty document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeYAML([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("decodeYAML(%q) error = %v, want it to contain %q", tt.yaml, err, tt.wantErr)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"not a mapping", "- a", "want a mapping"},
		{"no resources", "Parameters: {}", "no resources"},
		{"resource without type", "Resources:\n  A:\n    Properties: {}", "Resources.A: no Type"},
		{"parameter without type", "Parameters:\n  P: {Default: 1}\nResources:\n  A: {Type: X}", "Parameters.P: no Type"},
		{"output without value", "Resources:\n  A: {Type: X}\nOutputs:\n  O: {Description: d}", "Outputs.O: no Value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) error = %v, want it to contain %q", tt.yaml, err, tt.wantErr)
			}
		})
	}
}
