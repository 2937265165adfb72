package samlocal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
)

// AllFunctions is the env.json key whose variables apply to every function
// (SAM CLI's "CloudFormation parameter file format"); a function's own key
// wins over it.
const AllFunctions = "Parameters"

// EnvVars is an env.json file: function logical ids (or AllFunctions)
// mapping to environment variable overrides.
//
// SAM CLI overrides only the variables a function's template declares
// (Environment.Variables, Globals included): an override of any other name
// is silently dropped, and a declared variable given by an intrinsic
// function it cannot resolve (!Ref of a resource, !Sub, …) is the empty
// string unless overridden. So a variable meant for `sam local` must be
// declared in template.yaml, if only as "". Between the template's value
// and the file's, SAM CLI also takes a declared variable's value from the
// shell it runs in; Environment leaves that out.
type EnvVars map[string]map[string]string

// ReadEnvVars reads an env.json file (see ParseEnvVars).
func ReadEnvVars(path string) (EnvVars, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read env vars: %w", err)
	}
	e, err := ParseEnvVars(data)
	if err != nil {
		return nil, fmt.Errorf("env vars %s: %w", path, err)
	}
	return e, nil
}

// ParseEnvVars parses an env.json document: an object whose values are
// objects of variables. Values are turned into strings as SAM CLI does
// (true → "true", null → "", a number as written); a value that is an
// object or a list, which SAM CLI would quietly turn into "", is an error,
// as is anything that is not such a document.
func ParseEnvVars(data []byte) (EnvVars, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("data after the JSON object")
	}
	if raw == nil {
		return nil, errors.New("not a JSON object: null")
	}
	out := make(EnvVars, len(raw))
	var errs []error
	for _, fn := range slices.Sorted(maps.Keys(raw)) {
		vars, err := parseVariables(raw[fn])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fn, err))
			continue
		}
		out[fn] = vars
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func parseVariables(raw json.RawMessage) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var vars map[string]any
	if err := dec.Decode(&vars); err != nil || vars == nil {
		return nil, errors.New("want an object of environment variables (SAM CLI refuses anything else)")
	}
	out := make(map[string]string, len(vars))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		switch v := vars[name].(type) {
		case string:
			out[name] = v
		case json.Number:
			out[name] = v.String()
		case bool:
			out[name] = strconv.FormatBool(v)
		case nil:
			out[name] = ""
		default:
			errs = append(errs, fmt.Errorf("%s: value is a JSON object or list; SAM CLI would pass the empty string", name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Overrides returns the overrides SAM CLI applies to function: the
// AllFunctions variables, then the function's own, which win.
func (e EnvVars) Overrides(function string) map[string]string {
	out := map[string]string{}
	maps.Copy(out, e[AllFunctions])
	maps.Copy(out, e[function])
	return out
}

// Environment returns the variables SAM CLI gives function, whose template
// declares the variables in declared (name → value as resolved from the
// template): each declared variable with its override, if the file has
// one, else its template value. ignored lists, sorted, the overrides SAM
// CLI drops because the template does not declare them. The variables SAM
// CLI adds itself (AWS_REGION, credentials, AWS_SAM_LOCAL, …) are not
// included.
func (e EnvVars) Environment(function string, declared map[string]string) (env map[string]string, ignored []string) {
	env = maps.Clone(declared)
	if env == nil {
		env = map[string]string{}
	}
	for name, v := range e.Overrides(function) {
		if _, ok := declared[name]; !ok {
			ignored = append(ignored, name)
			continue
		}
		env[name] = v
	}
	slices.Sort(ignored)
	return env, ignored
}
