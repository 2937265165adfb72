package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// Attrs are a log line's attributes: at most MaxAttrs keys, each value a
// JSON scalar. Decoded from JSON a value is a string, a json.Number, a
// bool or nil (null); built in Go it may also be any integer or float
// type, which encodes as a JSON number. Objects and arrays are refused.
//
// Terminals of the first protocol version send strings only; a terminal
// sends numbers, booleans and null only to a server whose welcome accepts
// FeatureTypedAttrs (see Stringify).
type Attrs map[string]any

// attrError says which attribute of an entry is not a scalar.
type attrError struct{ key string }

func (e *attrError) Error() string {
	return fmt.Sprintf("attribute %q: want a string, number, boolean or null", e.key)
}

// UnmarshalJSON decodes a JSON object of scalars (or null), numbers as
// json.Number so that none loses precision, into a map made for as many
// keys as the object has (up to MaxAttrs): a map grown one key at a time
// allocates about twice as much, which a batch of 4096 lines multiplies.
// It scans b itself (valid JSON, as encoding/json hands it over): a
// json.Decoder per line would cost more than the lines.
func (a *Attrs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[Attrs]()}
	}
	if !json.Valid(b) {
		return &json.SyntaxError{}
	}
	m := Attrs(*a)
	if m == nil {
		m = make(Attrs, min(countKeys(b), MaxAttrs))
	}
	i := skipSpace(b, 1)
	for i < len(b) && b[i] != '}' {
		end := stringEnd(b, i)
		key, err := jsonString(b[i:end])
		if err != nil {
			return err
		}
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // ':'
		var v any
		switch c := b[i]; c {
		case '"':
			end = stringEnd(b, i)
			if v, err = jsonString(b[i:end]); err != nil {
				return err
			}
		case 't':
			v, end = true, i+4
		case 'f':
			v, end = false, i+5
		case 'n':
			v, end = nil, i+4
		case '{', '[':
			return &attrError{key: truncate(key, 64)}
		default:
			end = i
			for end < len(b) && !bytes.ContainsRune([]byte(",} \t\r\n"), rune(b[end])) {
				end++
			}
			v = json.Number(b[i:end])
		}
		m[key] = v
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	*a = m
	return nil
}

// skipSpace returns the index of the first byte of b from i on that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// jsonString decodes a JSON string literal, without allocating beyond the
// result when it has no escapes.
func jsonString(lit []byte) (string, error) {
	if len(lit) >= 2 && bytes.IndexByte(lit, '\\') < 0 {
		return string(lit[1 : len(lit)-1]), nil
	}
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err
}

// jsonKind names the kind of JSON value b starts.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// countKeys returns the number of keys of the valid JSON object b.
func countKeys(b []byte) int {
	n, depth, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ':':
			if depth == 1 {
				n++
			}
		}
	}
	return n
}

// AttrString renders an attribute value as a string, as a terminal of the
// first protocol version sends it: a string as is, a number in its JSON
// form (integers exactly, floats in the shortest form that reads back
// the same), true or false, and "null" for null.
func AttrString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	case int:
		return strconv.FormatInt(int64(v), 10)
	case int8:
		return strconv.FormatInt(int64(v), 10)
	case int16:
		return strconv.FormatInt(int64(v), 10)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint:
		return strconv.FormatUint(uint64(v), 10)
	case uint8:
		return strconv.FormatUint(uint64(v), 10)
	case uint16:
		return strconv.FormatUint(uint64(v), 10)
	case uint32:
		return strconv.FormatUint(uint64(v), 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// Scalar returns v as an attribute value that encodes as a JSON scalar:
// strings, booleans, nil and json.Number as they are, Go integers and
// finite floats as json.Number, anything else (and NaN or infinities,
// which JSON cannot hold) as its string form.
func Scalar(v any) any {
	switch x := v.(type) {
	case string, bool, nil, json.Number:
		return v
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return AttrString(x)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return AttrString(x)
		}
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
	default:
		return fmt.Sprint(v)
	}
	return json.Number(AttrString(v))
}

// Strings returns a with every value rendered by AttrString (nil for no
// attributes): the form a terminal sends to a server that has not
// accepted FeatureTypedAttrs.
func (a Attrs) Strings() Attrs {
	if len(a) == 0 {
		return nil
	}
	out := make(Attrs, len(a))
	for k, v := range a {
		out[k] = AttrString(v)
	}
	return out
}

// Typed reports whether some value of a is not a string.
func (a Attrs) Typed() bool {
	for _, v := range a {
		if _, ok := v.(string); !ok {
			return true
		}
	}
	return false
}

// Stringify returns entries with every attribute a string (see
// Attrs.Strings), copying only the entries that change.
func Stringify(entries []LogEntry) []LogEntry {
	var out []LogEntry
	for i := range entries {
		if !entries[i].Attrs.Typed() {
			continue
		}
		if out == nil {
			out = append([]LogEntry(nil), entries...)
		}
		out[i].Attrs = entries[i].Attrs.Strings()
	}
	if out == nil {
		return entries
	}
	return out
}
