package samlocal_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/devstack/samlocal"
)

func TestParseEnvVars(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		want    samlocal.EnvVars
		wantErr string
	}{
		{"strings", `{"Fn": {"A": "1", "B": ""}}`, samlocal.EnvVars{"Fn": {"A": "1", "B": ""}}, ""},
		{"scalars as SAM CLI turns them into strings", `{"Fn": {"N": 30, "F": 0.5, "T": true, "U": false, "Z": null}}`,
			samlocal.EnvVars{"Fn": {"N": "30", "F": "0.5", "T": "true", "U": "false", "Z": ""}}, ""},
		{"parameters beside functions", `{"Parameters": {"A": "x"}, "Fn": {}}`,
			samlocal.EnvVars{"Parameters": {"A": "x"}, "Fn": {}}, ""},
		{"a function that is not an object", `{"Fn": "A=1"}`, nil, "Fn: want an object"},
		{"a function that is null", `{"Fn": null}`, nil, "Fn: want an object"},
		{"a nested object", `{"Fn": {"A": {"Ref": "Table"}}}`, nil, "A: value is a JSON object or list"},
		{"a list", `{"Fn": {"A": ["x"]}}`, nil, "A: value is a JSON object or list"},
		{"not an object", `["Fn"]`, nil, "not a JSON object"},
		{"null", `null`, nil, "not a JSON object"},
		{"two documents", `{} {}`, nil, "data after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := samlocal.ParseEnvVars([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseEnvVars(%s) error = %v, want one containing %q", tt.doc, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEnvVars(%s): %v", tt.doc, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseEnvVars(%s) = %v, want %v", tt.doc, got, tt.want)
			}
		})
	}
}

// TestEnvironment encodes SAM CLI's rule (samcli/local/lambdafn/env_vars.py,
// EnvironmentVariables.resolve): only declared variables are set, an
// override replaces the template value, "Parameters" applies to every
// function and a function's own entry beats it.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	file := samlocal.EnvVars{
		"Parameters": {"TABLE_NAME": "shared", "LOG_LEVEL": "DEBUG"},
		"Fn":         {"TABLE_NAME": "own", "AWS_ENDPOINT_URL_DYNAMODB": "http://localstack:4566", "UNDECLARED": "x"},
	}
	tests := []struct {
		name        string
		function    string
		declared    map[string]string
		want        map[string]string
		wantIgnored []string
	}{
		{"own entry wins, undeclared dropped", "Fn",
			map[string]string{"TABLE_NAME": "", "LOG_LEVEL": "INFO", "AWS_ENDPOINT_URL_DYNAMODB": "", "STAGE": "prod"},
			map[string]string{"TABLE_NAME": "own", "LOG_LEVEL": "DEBUG", "AWS_ENDPOINT_URL_DYNAMODB": "http://localstack:4566", "STAGE": "prod"},
			[]string{"UNDECLARED"}},
		{"endpoint not declared: SAM CLI drops it", "Fn",
			map[string]string{"TABLE_NAME": ""},
			map[string]string{"TABLE_NAME": "own"},
			[]string{"AWS_ENDPOINT_URL_DYNAMODB", "LOG_LEVEL", "UNDECLARED"}},
		{"only Parameters", "Other",
			map[string]string{"TABLE_NAME": "", "LOG_LEVEL": "INFO"},
			map[string]string{"TABLE_NAME": "shared", "LOG_LEVEL": "DEBUG"},
			nil},
		{"nothing declared", "Fn", nil, map[string]string{},
			[]string{"AWS_ENDPOINT_URL_DYNAMODB", "LOG_LEVEL", "TABLE_NAME", "UNDECLARED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ignored := file.Environment(tt.function, tt.declared)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Environment(%s) = %v, want %v", tt.function, got, tt.want)
			}
			if !reflect.DeepEqual(ignored, tt.wantIgnored) {
				t.Errorf("Environment(%s) ignored %v, want %v", tt.function, ignored, tt.wantIgnored)
			}
		})
	}
}
