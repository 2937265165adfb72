package tail

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Parsed is what Parse recognised in a line.
type Parsed struct {
	// Level is a protocol level; info when none was recognised.
	Level string
	// Message is the line's message (the whole line for plain text).
	Message string
	// Time is the line's own timestamp (JSON lines only), or zero.
	Time time.Time
	// Attrs holds the other fields of a JSON line.
	Attrs map[string]string
}

// levelPrefix is how far into a text line a level word is looked for:
// far enough for a timestamp and a bracket or two.
const levelPrefix = 48

var levelWord = regexp.MustCompile(`(?i)(?:^|[\s\[(<|:=])(trace|debug|dbg|info|inf|notice|warn|warning|wrn|error|err|eror|fatal|crit|critical|panic)(?:$|[\s\])>|:,])`)

var levelAlias = map[string]string{"dbg": "debug", "inf": "info", "wrn": "warn", "eror": "error"}

// Parse recognises structured (JSON object) lines such as those written by
// log/slog, zap or logrus (keys level/lvl/severity, msg/message,
// time/ts/timestamp) and, in plain text, a level word near the start of the
// line (as in "2024-05-01T10:00:00Z ERROR ...", "[WARN] ..." or
// "level=debug ...").
func Parse(text string) Parsed {
	if p, ok := parseJSON(text); ok {
		return p
	}
	p := Parsed{Level: protocol.LevelInfo, Message: text}
	prefix := text
	if len(prefix) > levelPrefix {
		prefix = prefix[:levelPrefix]
	}
	if m := levelWord.FindStringSubmatch(prefix); m != nil {
		word := strings.ToLower(m[1])
		if alias, ok := levelAlias[word]; ok {
			word = alias
		}
		if level, ok := protocol.NormalizeLevel(word); ok {
			p.Level = level
		}
	}
	return p
}

func parseJSON(text string) (Parsed, bool) {
	t := strings.TrimSpace(text)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return Parsed{}, false
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(t), &fields); err != nil {
		return Parsed{}, false
	}
	p := Parsed{Level: protocol.LevelInfo}
	msgKey := ""
	for _, k := range []string{"msg", "message"} {
		if s, ok := fields[k].(string); ok {
			p.Message, msgKey = s, k
			break
		}
	}
	if msgKey == "" {
		// Structured, but not a log record we know: keep the line as it is.
		return Parsed{}, false
	}
	delete(fields, msgKey)
	for _, k := range []string{"level", "lvl", "severity"} {
		if s, ok := fields[k].(string); ok {
			if level, ok := protocol.NormalizeLevel(s); ok {
				p.Level = level
				delete(fields, k)
			}
			break
		}
	}
	for _, k := range []string{"time", "ts", "timestamp"} {
		switch v := fields[k].(type) {
		case string:
			if ts, err := time.Parse(time.RFC3339Nano, v); err == nil {
				p.Time = ts
				delete(fields, k)
			}
		case float64:
			if v > 0 {
				sec := int64(v)
				p.Time = time.Unix(sec, int64((v-float64(sec))*1e9))
				delete(fields, k)
			}
		}
		if !p.Time.IsZero() {
			break
		}
	}
	if len(fields) > 0 {
		p.Attrs = make(map[string]string, len(fields))
		for k, v := range fields {
			switch v := v.(type) {
			case string:
				p.Attrs[k] = v
			case nil:
				p.Attrs[k] = "null"
			case map[string]any, []any:
				b, _ := json.Marshal(v)
				p.Attrs[k] = string(b)
			default:
				p.Attrs[k] = fmt.Sprint(v)
			}
		}
	}
	return p, true
}
