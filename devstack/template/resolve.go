package template

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// FunctionEnvironment returns the environment variables of function
// logicalID (Globals merged in) with intrinsic functions resolved.
//
// refs gives values for references: parameter names (overriding the
// parameters' defaults), pseudo parameters ("AWS::Region"), resources
// ("Table", the value !Ref gives) and attributes ("Table.Arn").
// AWS::Partition and AWS::URLSuffix default to "aws" and "amazonaws.com".
// A list parameter's value is comma-separated. A reference that has no
// value is an error naming the variable and the reference; a variable whose
// value is AWS::NoValue is left out. All unresolvable variables are
// reported together.
func (t *Template) FunctionEnvironment(logicalID string, refs map[string]string) (map[string]string, error) {
	f, err := t.Function(logicalID)
	if err != nil {
		return nil, err
	}
	env, _ := f.Properties["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	r := &resolver{t: t, refs: refs, conditions: map[string]bool{}, evaluating: map[string]bool{}}
	out := make(map[string]string, len(vars))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		v, err := r.resolve(vars[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("function %s: environment %s: %w", logicalID, name, err))
			continue
		}
		switch vv := v.(type) {
		case noValue:
		case string:
			out[name] = vv
		default:
			errs = append(errs, fmt.Errorf("function %s: environment %s: value is %s, want a string", logicalID, name, kindOf(v)))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// ReservedConcurrency resolves function logicalID's
// ReservedConcurrentExecutions with refs (see FunctionEnvironment): ok is
// false when the function has none (absent, or AWS::NoValue).
func (t *Template) ReservedConcurrency(logicalID string, refs map[string]string) (n int, ok bool, err error) {
	f, err := t.Function(logicalID)
	if err != nil {
		return 0, false, err
	}
	v, present := f.Properties["ReservedConcurrentExecutions"]
	if !present {
		return 0, false, nil
	}
	r := &resolver{t: t, refs: refs, conditions: map[string]bool{}, evaluating: map[string]bool{}}
	got, err := r.resolve(v)
	if err != nil {
		return 0, false, fmt.Errorf("function %s: ReservedConcurrentExecutions: %w", logicalID, err)
	}
	switch g := got.(type) {
	case noValue:
		return 0, false, nil
	case string:
		n, err := strconv.Atoi(g)
		if err != nil || n < 0 {
			return 0, false, fmt.Errorf("function %s: ReservedConcurrentExecutions %q: want a whole number, 0 or more", logicalID, g)
		}
		return n, true, nil
	}
	return 0, false, fmt.Errorf("function %s: ReservedConcurrentExecutions is %s, want a number", logicalID, kindOf(got))
}

// noValue is what !Ref AWS::NoValue resolves to.
type noValue struct{}

// resolver evaluates intrinsic functions to strings and lists of strings.
type resolver struct {
	t          *Template
	refs       map[string]string
	conditions map[string]bool
	evaluating map[string]bool
}

// resolve returns a string, a []string or noValue.
func (r *resolver) resolve(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case nil:
		return "", nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, err := r.str(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case map[string]any:
		if len(x) != 1 {
			return nil, fmt.Errorf("a mapping is not a value")
		}
		for fn, arg := range x {
			return r.intrinsic(fn, arg)
		}
	}
	return nil, fmt.Errorf("cannot resolve %v", v)
}

// str resolves v and requires a string.
func (r *resolver) str(v any) (string, error) {
	got, err := r.resolve(v)
	if err != nil {
		return "", err
	}
	s, ok := got.(string)
	if !ok {
		return "", fmt.Errorf("%v resolves to %s, want a string", v, kindOf(got))
	}
	return s, nil
}

// list resolves v and requires a list.
func (r *resolver) list(v any) ([]string, error) {
	got, err := r.resolve(v)
	if err != nil {
		return nil, err
	}
	l, ok := got.([]string)
	if !ok {
		return nil, fmt.Errorf("%v resolves to %s, want a list", v, kindOf(got))
	}
	return l, nil
}

func (r *resolver) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("argument of Ref is %s, want a name", kind(arg))
		}
		return r.ref(name)
	case "Fn::GetAtt":
		res, attr := getAtt(map[string]any{fn: arg})
		if res == "" || attr == "" {
			return nil, fmt.Errorf("Fn::GetAtt %v: want [Resource, Attribute]", arg)
		}
		return r.lookup(res + "." + attr)
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::Join":
		args, ok := arg.([]any)
		if !ok || len(args) != 2 {
			return nil, fmt.Errorf("Fn::Join: want [delimiter, list]")
		}
		delim, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("Fn::Join: delimiter is %s, want a string", kind(args[0]))
		}
		parts, err := r.list(args[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::Join: %w", err)
		}
		return strings.Join(parts, delim), nil
	case "Fn::Split":
		args, ok := arg.([]any)
		if !ok || len(args) != 2 {
			return nil, fmt.Errorf("Fn::Split: want [delimiter, string]")
		}
		delim, ok := args[0].(string)
		if !ok || delim == "" {
			return nil, fmt.Errorf("Fn::Split: delimiter must be a non-empty string")
		}
		s, err := r.str(args[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::Split: %w", err)
		}
		return strings.Split(s, delim), nil
	case "Fn::Select":
		args, ok := arg.([]any)
		if !ok || len(args) != 2 {
			return nil, fmt.Errorf("Fn::Select: want [index, list]")
		}
		is, err := r.str(args[0])
		if err != nil {
			return nil, fmt.Errorf("Fn::Select: %w", err)
		}
		i, err := strconv.Atoi(is)
		if err != nil {
			return nil, fmt.Errorf("Fn::Select: index %q is not a number", is)
		}
		l, err := r.list(args[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::Select: %w", err)
		}
		if i < 0 || i >= len(l) {
			return nil, fmt.Errorf("Fn::Select: index %d out of range of %d items", i, len(l))
		}
		return l[i], nil
	case "Fn::If":
		args, ok := arg.([]any)
		if !ok || len(args) != 3 {
			return nil, fmt.Errorf("Fn::If: want [condition, then, else]")
		}
		name, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("Fn::If: condition is %s, want a name", kind(args[0]))
		}
		c, err := r.condition(name)
		if err != nil {
			return nil, err
		}
		if c {
			return r.resolve(args[1])
		}
		return r.resolve(args[2])
	default:
		return nil, fmt.Errorf("%s is not supported", fn)
	}
}

// ref resolves !Ref name.
func (r *resolver) ref(name string) (any, error) {
	if name == "AWS::NoValue" {
		return noValue{}, nil
	}
	if p, ok := r.t.Parameters[name]; ok {
		v, found := r.refs[name]
		if !found {
			if !p.HasDefault {
				return nil, fmt.Errorf("parameter %s has no default and no value was given", name)
			}
			v = p.Default
		}
		if isListParameter(p.Type) {
			if v == "" {
				return []string{}, nil
			}
			return strings.Split(v, ","), nil
		}
		return v, nil
	}
	return r.lookup(name)
}

// lookup finds the value of a pseudo parameter, resource or attribute.
func (r *resolver) lookup(name string) (any, error) {
	if v, ok := r.refs[name]; ok {
		return v, nil
	}
	switch name {
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	}
	res, _, _ := strings.Cut(name, ".")
	if _, ok := r.t.Resources[res]; !ok && !strings.HasPrefix(name, "AWS::") {
		return nil, fmt.Errorf("%s is neither a parameter nor a resource of the template", name)
	}
	return nil, fmt.Errorf("no value for %s (give one in refs)", name)
}

// sub resolves Fn::Sub in its string and [string, variables] forms.
func (r *resolver) sub(arg any) (any, error) {
	var s string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		s = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Sub: want a string or [string, variables]")
		}
		var ok bool
		if s, ok = a[0].(string); !ok {
			return nil, fmt.Errorf("Fn::Sub: template is %s, want a string", kind(a[0]))
		}
		if vars, ok = a[1].(map[string]any); !ok {
			return nil, fmt.Errorf("Fn::Sub: variables are %s, want a mapping", kind(a[1]))
		}
	default:
		return nil, fmt.Errorf("Fn::Sub: want a string or [string, variables]")
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i+2:]
		if strings.HasPrefix(s, "!") { // ${!Literal} is the literal ${Literal}
			b.WriteString("${")
			s = s[1:]
			continue
		}
		j := strings.Index(s, "}")
		if j < 0 {
			return nil, fmt.Errorf("Fn::Sub: unterminated ${ in %q", s)
		}
		name := strings.TrimSpace(s[:j])
		s = s[j+1:]
		var val string
		var err error
		switch v, local := vars[name]; {
		case local:
			val, err = r.str(v)
		case strings.Contains(name, ".") && !strings.HasPrefix(name, "AWS::"):
			var got any
			if got, err = r.lookup(name); err == nil {
				val, _ = got.(string)
			}
		default:
			var got any
			if got, err = r.ref(name); err == nil {
				s2, ok := got.(string)
				if !ok {
					err = fmt.Errorf("${%s} is %s, want a string", name, kindOf(got))
				}
				val = s2
			}
		}
		if err != nil {
			return nil, fmt.Errorf("Fn::Sub: %w", err)
		}
		b.WriteString(val)
	}
}

// condition evaluates the named condition.
func (r *resolver) condition(name string) (bool, error) {
	if v, ok := r.conditions[name]; ok {
		return v, nil
	}
	def, ok := r.t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	if r.evaluating[name] {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	r.evaluating[name] = true
	defer delete(r.evaluating, name)
	v, err := r.evalCondition(def)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	r.conditions[name] = v
	return v, nil
}

func (r *resolver) evalCondition(def any) (bool, error) {
	m, ok := def.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("%v is not a condition function", def)
	}
	for fn, arg := range m {
		if fn == "Condition" {
			name, ok := arg.(string)
			if !ok {
				return false, fmt.Errorf("argument of Condition is %s, want a name", kind(arg))
			}
			return r.condition(name)
		}
		args, ok := arg.([]any)
		if !ok {
			return false, fmt.Errorf("%s: want a list of arguments", fn)
		}
		switch fn {
		case "Fn::Equals":
			if len(args) != 2 {
				return false, fmt.Errorf("Fn::Equals: want two values")
			}
			a, err := r.str(args[0])
			if err != nil {
				return false, err
			}
			b, err := r.str(args[1])
			if err != nil {
				return false, err
			}
			return a == b, nil
		case "Fn::Not":
			if len(args) != 1 {
				return false, fmt.Errorf("Fn::Not: want one condition")
			}
			c, err := r.evalCondition(args[0])
			return !c, err
		case "Fn::And", "Fn::Or":
			if len(args) < 2 {
				return false, fmt.Errorf("%s: want at least two conditions", fn)
			}
			and := fn == "Fn::And"
			for _, a := range args {
				c, err := r.evalCondition(a)
				if err != nil {
					return false, err
				}
				if c != and {
					return c, nil
				}
			}
			return and, nil
		default:
			return false, fmt.Errorf("%s is not a condition function", fn)
		}
	}
	return false, nil
}

func isListParameter(typ string) bool {
	return typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<")
}

// kindOf names a resolved value's kind for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case []string:
		return "a list"
	case noValue:
		return "AWS::NoValue"
	default:
		return kind(v)
	}
}
