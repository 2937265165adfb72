package protocol_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/edgesync/edgesync/protocol"
)

// TestTypedAttrs: attribute values are JSON scalars, accepted typed or as
// strings; numbers keep their exact text; Stringify gives what a terminal
// of the first protocol version sends.
func TestTypedAttrs(t *testing.T) {
	t.Parallel()
	body := `{"type":"logs","entries":[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"x",` +
		`"attrs":{"s":"v","i":12345678901234567890,"f":-1.5e-3,"t":true,"n":null,"q":"a\"b","u":"\u00e9"}}]}`
	msg, err := protocol.Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	got := msg.(*protocol.Logs).Entries[0].Attrs
	want := protocol.Attrs{"s": "v", "i": json.Number("12345678901234567890"), "f": json.Number("-1.5e-3"), "t": true, "n": nil, "q": `a"b`, "u": "é"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("attrs = %#v, want %#v", got, want)
	}
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var again protocol.Attrs
	if err := json.Unmarshal(raw, &again); err != nil || !reflect.DeepEqual(again, want) {
		t.Errorf("round trip through %s: %#v (%v), want %#v", raw, again, err, want)
	}
	strs := protocol.Stringify([]protocol.LogEntry{{Attrs: got}, {Attrs: protocol.Attrs{"k": "v"}}})
	wantStrs := protocol.Attrs{"s": "v", "i": "12345678901234567890", "f": "-1.5e-3", "t": "true", "n": "null", "q": `a"b`, "u": "é"}
	if !reflect.DeepEqual(strs[0].Attrs, wantStrs) || !reflect.DeepEqual(strs[1].Attrs, protocol.Attrs{"k": "v"}) {
		t.Errorf("Stringify = %#v, want %#v", strs, wantStrs)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stringify changed its input: %#v", got)
	}
	for _, c := range []struct {
		in   any
		want any
	}{
		{int64(-7), json.Number("-7")}, {uint8(7), json.Number("7")}, {2.5, json.Number("2.5")},
		{"s", "s"}, {true, true}, {nil, nil}, {[]int{1}, "[1]"},
	} {
		if got := protocol.Scalar(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Scalar(%#v) = %#v, want %#v", c.in, got, c.want)
		}
	}
}
