package template

import (
	"maps"
	"strings"
	"testing"
)

const resolveTemplate = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: prod}
  Origins: {Type: CommaDelimitedList, Default: "https://a.example,https://b.example"}
  Key: {Type: String, Default: ""}
  NoDefault: {Type: String}
  Seconds: {Type: Number, Default: 300}
Conditions:
  HasKey: !Not [!Equals [!Ref Key, ""]]
  IsProd: !Equals [!Ref Stage, prod]
  ProdWithKey: !And [!Condition IsProd, !Condition HasKey]
  ProdOrKey: !Or [!Condition IsProd, !Condition HasKey]
Globals:
  Function:
    Runtime: provided.al2023
    Environment:
      Variables:
        SHARED: from-globals
        OVERRIDDEN: from-globals
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Api: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          OVERRIDDEN: from-function
          TABLE: !Ref Table
          TABLE_ARN: !GetAtt Table.Arn
          URL: !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"
          SUB_VARS: !Sub ["${Name}-${Stage}", {Name: !Select [1, !Ref Origins]}]
          LITERAL: !Sub "${!NotAVar}"
          ORIGINS: !Join [",", !Ref Origins]
          FIRST: !Select [0, !Split ["/", "x/y/z"]]
          SECONDS: !Ref Seconds
          NUMBER: 42
          FLAG: true
          KEYED: !If [HasKey, yes, no]
          MAYBE: !If [HasKey, !Ref Key, !Ref AWS::NoValue]
          PROD_WITH_KEY: !If [ProdWithKey, "1", "0"]
          PROD_OR_KEY: !If [ProdOrKey, "1", "0"]
          PARTITION: !Sub "${AWS::Partition}"
`

func TestFunctionEnvironment(t *testing.T) {
	t.Parallel()
	tpl, err := Parse([]byte(resolveTemplate))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	base := map[string]string{"Table": "tbl", "Table.Arn": "arn:tbl", "Api": "abc", "AWS::Region": "eu-west-1"}
	with := func(extra map[string]string) map[string]string {
		m := maps.Clone(base)
		maps.Copy(m, extra)
		return m
	}
	common := map[string]string{
		"SHARED":     "from-globals",
		"OVERRIDDEN": "from-function",
		"TABLE":      "tbl",
		"TABLE_ARN":  "arn:tbl",
		"LITERAL":    "${NotAVar}",
		"FIRST":      "x",
		"NUMBER":     "42",
		"FLAG":       "true",
		"PARTITION":  "aws",
	}
	tests := []struct {
		name string
		refs map[string]string
		want map[string]string
	}{
		{
			name: "defaults",
			refs: base,
			want: map[string]string{
				"URL":           "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
				"SUB_VARS":      "https://b.example-prod",
				"ORIGINS":       "https://a.example,https://b.example",
				"SECONDS":       "300",
				"KEYED":         "no",
				"PROD_WITH_KEY": "0",
				"PROD_OR_KEY":   "1",
			},
		},
		{
			name: "parameters given",
			refs: with(map[string]string{"Stage": "dev", "Origins": "https://x,https://y", "Key": "k1", "Seconds": "60"}),
			want: map[string]string{
				"URL":           "https://abc.execute-api.eu-west-1.amazonaws.com/dev",
				"SUB_VARS":      "https://y-dev",
				"ORIGINS":       "https://x,https://y",
				"SECONDS":       "60",
				"KEYED":         "yes",
				"MAYBE":         "k1",
				"PROD_WITH_KEY": "0",
				"PROD_OR_KEY":   "1",
			},
		},
		{
			name: "prod with key",
			refs: with(map[string]string{"Key": "k1"}),
			want: map[string]string{
				"URL":           "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
				"SUB_VARS":      "https://b.example-prod",
				"ORIGINS":       "https://a.example,https://b.example",
				"SECONDS":       "300",
				"KEYED":         "yes",
				"MAYBE":         "k1",
				"PROD_WITH_KEY": "1",
				"PROD_OR_KEY":   "1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tpl.FunctionEnvironment("Fn", tt.refs)
			if err != nil {
				t.Fatalf("FunctionEnvironment: %v", err)
			}
			want := maps.Clone(common)
			maps.Copy(want, tt.want)
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s = %q, want %q", k, got[k], w)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected variable %s = %q", k, got[k])
				}
			}
		})
	}
}

func TestFunctionEnvironmentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vars    string
		refs    map[string]string
		wantErr string
	}{
		{"resource without value", `X: !Ref Table`, nil, "environment X: no value for Table"},
		{"attribute without value", `X: !GetAtt Table.Arn`, nil, "no value for Table.Arn"},
		{"pseudo parameter without value", `X: !Sub "${AWS::Region}"`, nil, "no value for AWS::Region"},
		{"unknown name", `X: !Ref Nope`, nil, "Nope is neither a parameter nor a resource"},
		{"parameter without default", `X: !Ref NoDefault`, nil, "parameter NoDefault has no default"},
		{"list where string wanted", `X: !Ref Origins`, nil, "want a string"},
		{"select out of range", `X: !Select [5, !Ref Origins]`, nil, "out of range"},
		{"unknown condition", `X: !If [Nope, a, b]`, nil, "no condition Nope"},
		{"unsupported function", `X: !FindInMap [M, k, v]`, nil, "Fn::FindInMap is not supported"},
		{"unterminated sub", `X: !Sub "${Stage"`, nil, "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := `
Parameters:
  Stage: {Type: String, Default: prod}
  Origins: {Type: CommaDelimitedList, Default: "a,b"}
  NoDefault: {Type: String}
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          ` + tt.vars + "\n"
			tpl, err := Parse([]byte(src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = tpl.FunctionEnvironment("Fn", tt.refs)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("FunctionEnvironment error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestFunctionEnvironmentOfNonFunction(t *testing.T) {
	t.Parallel()
	tpl, err := Parse([]byte(resolveTemplate))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, id := range []string{"Table", "Missing"} {
		if _, err := tpl.FunctionEnvironment(id, nil); err == nil {
			t.Errorf("FunctionEnvironment(%q) = nil error, want one", id)
		}
	}
}

func TestMergeGlobals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		global, local any
		want          any
	}{
		{"local scalar wins", "a", "b", "b"},
		{"absent local keeps global", "a", nil, "a"},
		{"maps merge", map[string]any{"x": 1, "y": 2}, map[string]any{"y": 3}, map[string]any{"x": 1, "y": 3}},
		{"lists concatenate", []any{"a"}, []any{"b"}, []any{"a", "b"}},
		{"intrinsic replaces map", map[string]any{"x": 1}, map[string]any{"Ref": "P"}, map[string]any{"Ref": "P"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mergeGlobals(tt.global, tt.local)
			if !equalJSONish(got, tt.want) {
				t.Errorf("mergeGlobals(%v, %v) = %v, want %v", tt.global, tt.local, got, tt.want)
			}
		})
	}
}

func equalJSONish(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k := range av {
			if !equalJSONish(av[k], bv[k]) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !equalJSONish(av[i], bv[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}
