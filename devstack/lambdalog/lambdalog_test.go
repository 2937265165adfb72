package lambdalog

import "testing"

func TestLevel(t *testing.T) {
	t.Parallel()
	const ts = `"timestamp":"2026-11-30T10:00:00Z"`
	tests := []struct {
		line string
		want string
	}{
		{`{"level":"debug","msg":"x",` + ts + `}`, "DEBUG"},
		{`{"level":"WARN",` + ts + `}`, "WARN"},
		{`{"level":"Error",` + ts + `}`, "ERROR"},
		{`{"level":"fatal",` + ts + `}`, "FATAL"},
		{`{"level":"warning",` + ts + `}`, "INFO"}, // invalid level
		{`{"msg":"no level",` + ts + `}`, "INFO"},
		{`{"level":"ERROR"}`, "INFO"},                         // no timestamp
		{`{"level":"ERROR","timestamp":"yesterday"}`, "INFO"}, // bad timestamp
		{`plain text`, "INFO"},
		{`{"_aws":{"Timestamp":1},"Connects":1}`, "INFO"}, // an EMF line without a level
	}
	for _, tt := range tests {
		if got := Level([]byte(tt.line)); got != tt.want {
			t.Errorf("Level(%s) = %s, want %s", tt.line, got, tt.want)
		}
	}
}

func TestKeeps(t *testing.T) {
	t.Parallel()
	info := []byte(`{"level":"INFO","timestamp":"2026-11-30T10:00:00Z"}`)
	errLine := []byte(`{"level":"ERROR","timestamp":"2026-11-30T10:00:00Z"}`)
	for _, tt := range []struct {
		line  []byte
		level string
		want  bool
	}{
		{info, "DEBUG", true}, {info, "INFO", true}, {info, "WARN", false}, {info, "ERROR", false},
		{errLine, "WARN", true}, {errLine, "ERROR", true}, {info, "", true},
	} {
		if got := Keeps(tt.line, tt.level); got != tt.want {
			t.Errorf("Keeps(%s, %q) = %v, want %v", tt.line, tt.level, got, tt.want)
		}
	}
}
