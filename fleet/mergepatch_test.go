package fleet_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/edgesync/edgesync/fleet"
)

// TestMergePatch runs the examples of RFC 7396, appendix A, and the cases
// a rollout meets (an empty target, numbers kept as written).
func TestMergePatch(t *testing.T) {
	t.Parallel()
	tests := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{``, `{"log_level":"debug"}`, `{"log_level":"debug"}`},
		{`{"threshold":0.50,"big":12345678901234567890}`, `{"x":1e3}`, `{"big":12345678901234567890,"threshold":0.50,"x":1e3}`},
	}
	for _, tt := range tests {
		t.Run(tt.target+" + "+tt.patch, func(t *testing.T) {
			got, err := fleet.MergePatch(json.RawMessage(tt.target), json.RawMessage(tt.patch))
			if err != nil {
				t.Fatalf("MergePatch: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	for _, bad := range [][2]string{{`{`, `{}`}, {`{}`, `{"a":`}, {`{}`, `{} {}`}} {
		if _, err := fleet.MergePatch(json.RawMessage(bad[0]), json.RawMessage(bad[1])); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("MergePatch(%s, %s): %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}
}
