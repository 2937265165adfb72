package tail

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Parsed is what Parse recognised in a line.
type Parsed struct {
	// Level is a protocol level; info when none was recognised.
	Level string
	// Message is the line's message: what is left once the recognised
	// timestamp, level and fields are taken out (the whole line for text
	// Parse does not recognise).
	Message string
	// Time is the line's own timestamp, or zero when it has none.
	Time time.Time
	// Attrs holds the line's other fields with their types: string,
	// int64, float64, bool or nil (JSON null); nested JSON objects and
	// arrays are kept as their JSON text (a string).
	Attrs map[string]any
}

// Parse recognises the common shapes of log lines:
//
//   - JSON objects as written by log/slog, zap, logrus, pino or bunyan:
//     message from msg/message, level from level/lvl/severity (a name, or
//     a pino/bunyan number), time from time/ts/timestamp/@timestamp (RFC
//     3339, or seconds or milliseconds since the epoch); the other keys
//     become attributes;
//   - logfmt (key=value pairs, as slog's text handler and logrus write
//     them) with the same keys;
//   - text starting with a timestamp: RFC 3339 / ISO 8601 (T or space,
//     optional fraction with . or ,, optional zone; no zone means local
//     time), Go's log package (2006/01/02 15:04:05), syslog (Jan  2
//     15:04:05, the current year, with "host app[pid]:" taken as
//     attributes host, app and pid), optionally in brackets;
//   - then, or at the start, a level word: ERROR, [WARN], <info>, "fatal:"
//     and the like.
//
// What is recognised is taken out of the message; a line with no
// recognisable shape is kept whole with level info (or a level word found
// near its start).
func Parse(text string) Parsed {
	if p, ok := parseJSON(text); ok {
		return p
	}
	if p, ok := parseLogfmt(text); ok {
		return p
	}
	return parseText(text)
}

// levelPrefix is how far into a text line a level word is looked for:
// far enough for a timestamp and a bracket or two.
const levelPrefix = 48

var levelWord = regexp.MustCompile(`(?i)(?:^|[\s\[(<|:=])(trace|debug|dbg|info|inf|notice|warn|warning|wrn|error|err|eror|fatal|crit|critical|panic)(?:$|[\s\])>|:,])`)

var levelAlias = map[string]string{"dbg": "debug", "inf": "info", "wrn": "warn", "eror": "error"}

func normalizeLevel(word string) (string, bool) {
	word = strings.ToLower(word)
	if alias, ok := levelAlias[word]; ok {
		word = alias
	}
	return protocol.NormalizeLevel(word)
}

// leadingLevel matches a level token at the start of s: the word alone,
// in brackets, or followed by a colon, then the separator after it.
var leadingLevel = regexp.MustCompile(`(?i)^(?:\[\s*([a-z]+)\s*\]|<([a-z]+)>|\(([a-z]+)\)|([a-z]+):?)(?:\s+[-|:]\s+|\s+|$)`)

func parseText(text string) Parsed {
	p := Parsed{Level: protocol.LevelInfo, Message: text}
	rest := text
	if ts, after, ok := leadingTime(text); ok {
		p.Time = ts
		rest = after
		if syslogTime.MatchString(text) {
			rest = p.syslogHeader(rest)
		}
	}
	if m := leadingLevel.FindStringSubmatch(rest); m != nil {
		word := m[1] + m[2] + m[3] + m[4]
		if level, ok := normalizeLevel(word); ok && (m[4] == "" || isLevelToken(word, m[0])) {
			p.Level = level
			p.Message = rest[len(m[0]):]
			if p.Message == "" {
				p.Message = rest // a line that is only a level word
			}
			return p
		}
	}
	if !p.Time.IsZero() {
		p.Message = rest
	}
	prefix := text
	if len(prefix) > levelPrefix {
		prefix = prefix[:levelPrefix]
	}
	if m := levelWord.FindStringSubmatch(prefix); m != nil {
		if level, ok := normalizeLevel(m[1]); ok {
			p.Level = level
		}
	}
	return p
}

// isLevelToken tells a bare leading word that names a level ("ERROR",
// "warning:") from an ordinary word that happens to be one ("Error
// reading file" is a message): upper case, or followed by a colon.
func isLevelToken(word, match string) bool {
	return word == strings.ToUpper(word) || strings.Contains(match, ":")
}

var (
	// isoTime: 2024-05-01T10:00:00, with a space for T, a fraction after
	// . or , and a zone (Z, +02:00, +0200, or " UTC").
	isoTime = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2}| ?UTC)?`)
	// goLogTime: 2024/05/01 10:00:00, optional fraction.
	goLogTime = regexp.MustCompile(`^(\d{4})/(\d{2})/(\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?`)
	// syslogTime: May  1 10:00:00 (RFC 3164).
	syslogTime   = regexp.MustCompile(`^(?:\[)?([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}:\d{2}:\d{2})`)
	syslogHeader = regexp.MustCompile(`^([A-Za-z0-9._-]+) ([^\s\[:]+)(?:\[(\d+)\])?: `)
	// timeSeparator ends a timestamp: a closing bracket, spaces, and a dash
	// or bar between them and what follows.
	timeSeparator = regexp.MustCompile(`^\]?(?:\s+[-|]\s+|\s+|$)`)
)

// leadingTime parses a timestamp at the start of text (optionally in
// brackets) and returns it and the text after it.
func leadingTime(text string) (time.Time, string, bool) {
	s := strings.TrimPrefix(text, "[")
	var ts time.Time
	var n int
	if m := isoTime.FindStringSubmatch(s); m != nil {
		layout := "2006-01-02T15:04:05"
		value := m[1] + "T" + m[2]
		if m[3] != "" {
			layout += "." + strings.Repeat("0", len(m[3]))
			value += "." + m[3]
		}
		loc := time.Local
		switch zone := strings.TrimSpace(m[4]); {
		case zone == "":
		case zone == "Z" || zone == "UTC":
			loc = time.UTC
		default:
			layout += "-0700"
			value += strings.Replace(zone, ":", "", 1)
		}
		t, err := time.ParseInLocation(layout, value, loc)
		if err != nil {
			return time.Time{}, text, false
		}
		ts, n = t, len(m[0])
	} else if m := goLogTime.FindStringSubmatch(s); m != nil {
		value := m[1] + "-" + m[2] + "-" + m[3] + "T" + m[4]
		layout := "2006-01-02T15:04:05"
		if m[5] != "" {
			layout += "." + strings.Repeat("0", len(m[5]))
			value += "." + m[5]
		}
		t, err := time.ParseInLocation(layout, value, time.Local)
		if err != nil {
			return time.Time{}, text, false
		}
		ts, n = t, len(m[0])
	} else if m := syslogTime.FindStringSubmatch(text); m != nil {
		t, err := time.ParseInLocation("Jan 2 15:04:05", m[1]+" "+m[2]+" "+m[3], time.Local)
		if err != nil {
			return time.Time{}, text, false
		}
		// No year: this year, or last year for a date ahead of now
		// (December's lines read in January).
		now := time.Now()
		t = t.AddDate(now.Year(), 0, 0)
		if t.After(now.Add(24 * time.Hour)) {
			t = t.AddDate(-1, 0, 0)
		}
		ts, n = t, len(m[0])
		s = text
	} else {
		return time.Time{}, text, false
	}
	sep := timeSeparator.FindString(s[n:])
	if sep == "" && n < len(s) {
		return time.Time{}, text, false // a timestamp runs into other text
	}
	if !plausible(ts) {
		return time.Time{}, text, false
	}
	return ts, s[n+len(sep):], true
}

// syslogHeader takes "host app[pid]: " after a syslog timestamp into
// attributes and returns the rest.
func (p *Parsed) syslogHeader(rest string) string {
	m := syslogHeader.FindStringSubmatch(rest)
	if m == nil {
		return rest
	}
	p.Attrs = map[string]any{"host": m[1], "app": m[2]}
	if m[3] != "" {
		if pid, err := strconv.ParseInt(m[3], 10, 64); err == nil {
			p.Attrs["pid"] = pid
		}
	}
	return rest[len(m[0]):]
}

// plausible bounds a parsed time: outside these years it is not a
// timestamp (and could not be encoded as RFC 3339).
func plausible(t time.Time) bool {
	y := t.Year()
	return y >= 1990 && y <= 2200
}

var (
	messageKeys = []string{"msg", "message"}
	levelKeys   = []string{"level", "lvl", "severity"}
	timeKeys    = []string{"time", "ts", "timestamp", "@timestamp"}
)

func parseJSON(text string) (Parsed, bool) {
	t := strings.TrimSpace(text)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return Parsed{}, false
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return Parsed{}, false
	}
	return structured(fields)
}

// structured takes message, level and time out of a record's fields; the
// rest are its attributes. It fails for a record with no message.
func structured(fields map[string]any) (Parsed, bool) {
	p := Parsed{Level: protocol.LevelInfo}
	msgKey := ""
	for _, k := range messageKeys {
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
	for _, k := range levelKeys {
		v, ok := fields[k]
		if !ok {
			continue
		}
		if level, ok := levelValue(v); ok {
			p.Level = level
			delete(fields, k)
		}
		break
	}
	for _, k := range timeKeys {
		if ts, ok := timeValue(fields[k]); ok {
			p.Time = ts
			delete(fields, k)
			break
		}
	}
	if len(fields) > 0 {
		p.Attrs = make(map[string]any, len(fields))
		for k, v := range fields {
			p.Attrs[k] = attrValue(v)
		}
	}
	return p, true
}

// levelValue reads a level name, or a pino/bunyan level number (10 trace,
// 20 debug, 30 info, 40 warn, 50 error, 60 fatal).
func levelValue(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return normalizeLevel(v)
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return "", false
		}
		switch {
		case n <= 20:
			return protocol.LevelDebug, true
		case n <= 30:
			return protocol.LevelInfo, true
		case n <= 40:
			return protocol.LevelWarn, true
		default:
			return protocol.LevelError, true
		}
	}
	return "", false
}

// timeValue reads an RFC 3339 string, or seconds (or, above 1e11,
// milliseconds) since the epoch.
func timeValue(v any) (time.Time, bool) {
	var ts time.Time
	switch v := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t2, _, ok := leadingTime(v)
			if !ok {
				return time.Time{}, false
			}
			t = t2
		}
		ts = t
	case json.Number:
		if n, err := v.Int64(); err == nil {
			if n > 1e11 {
				ts = time.UnixMilli(n)
			} else {
				ts = time.Unix(n, 0)
			}
			break
		}
		f, err := v.Float64()
		if err != nil || f <= 0 {
			return time.Time{}, false
		}
		if f > 1e11 {
			f /= 1000
		}
		sec := int64(f)
		// Microseconds: what a float of seconds holds reliably.
		ts = time.Unix(sec, int64(math.Round((f-float64(sec))*1e6))*1e3)
	default:
		return time.Time{}, false
	}
	return ts, plausible(ts)
}

// attrValue turns a decoded JSON value into an attribute value: numbers
// become int64 when integral, else float64; objects and arrays their JSON.
func attrValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case map[string]any, []any:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		return strings.TrimSuffix(b.String(), "\n")
	}
	return v // string, bool, nil
}

// parseLogfmt reads a line of key=value pairs (values bare or in double
// quotes with Go escapes). It fails unless the whole line is pairs and one
// of them is a message or a level.
func parseLogfmt(text string) (Parsed, bool) {
	s := strings.TrimSpace(text)
	if !strings.Contains(s, "=") {
		return Parsed{}, false
	}
	fields := map[string]any{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return Parsed{}, false
		}
		key := s[:eq]
		if strings.ContainsAny(key, " \t\"=") {
			return Parsed{}, false
		}
		s = s[eq+1:]
		var value any
		if strings.HasPrefix(s, `"`) {
			end := quotedEnd(s)
			if end < 0 {
				return Parsed{}, false
			}
			unq, err := strconv.Unquote(s[:end])
			if err != nil {
				return Parsed{}, false
			}
			value, s = unq, s[end:]
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			value, s = bareValue(s[:end]), s[end:]
		}
		if len(s) > 0 && s[0] != ' ' && s[0] != '\t' {
			return Parsed{}, false
		}
		fields[key] = value
		s = strings.TrimLeft(s, " \t")
	}
	hasMsg := false
	for _, k := range messageKeys {
		if _, ok := fields[k].(string); ok {
			hasMsg = true
		}
	}
	if !hasMsg {
		hasLevel := false
		for _, k := range levelKeys {
			if v, ok := fields[k].(string); ok {
				if _, ok := normalizeLevel(v); ok {
					hasLevel = true
				}
			}
		}
		if !hasLevel {
			return Parsed{}, false
		}
		// No message: the line is its own message (its fields are also
		// attributes).
		fields["msg"] = text
	}
	for k, v := range fields {
		// Numbers were typed for attributes; time and level read them
		// back as JSON numbers.
		switch v := v.(type) {
		case int64:
			fields[k] = json.Number(strconv.FormatInt(v, 10))
		case float64:
			fields[k] = json.Number(strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	return structured(fields)
}

// quotedEnd returns the index just after the closing quote of the quoted
// string s starts with, or -1.
func quotedEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

var (
	intValue   = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,17})$`)
	floatValue = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
)

// bareValue types an unquoted logfmt value: integers, decimals, true,
// false and null; anything else ("12ms", "007") stays a string.
func bareValue(s string) any {
	switch {
	case intValue.MatchString(s):
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	case floatValue.MatchString(s):
		f, err := strconv.ParseFloat(s, 64)
		if err == nil {
			return f
		}
	case s == "true":
		return true
	case s == "false":
		return false
	case s == "null":
		return nil
	}
	return s
}
