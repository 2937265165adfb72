package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Handler returns a slog.Handler that sends records at or above level
// (info if nil) to the cloud as lines from source. Attributes become the
// line's attrs, groups prefixing their keys ("req.id"). Handle never blocks
// on the network or the disk.
func (a *Agent) Handler(source string, level slog.Leveler) slog.Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &handler{a: a, source: source, level: level}
}

type handler struct {
	a      *Agent
	source string
	level  slog.Leveler
	attrs  protocol.Attrs
	group  string // prefix for keys, ending in "." when set
}

// Enabled reports whether records at l are kept.
func (h *handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// Handle turns the record into a log line.
func (h *handler) Handle(_ context.Context, r slog.Record) error {
	attrs := make(protocol.Attrs, len(h.attrs)+r.NumAttrs())
	for k, v := range h.attrs {
		attrs[k] = v
	}
	r.Attrs(func(at slog.Attr) bool {
		addAttr(attrs, h.group, at)
		return true
	})
	if len(attrs) == 0 {
		attrs = nil
	}
	h.a.LogEntry(protocol.LogEntry{Time: r.Time, Level: levelName(r.Level), Message: r.Message, Source: h.source, Attrs: attrs})
	return nil
}

// WithAttrs returns a handler that adds attrs to every line.
func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	n := *h
	n.attrs = make(protocol.Attrs, len(h.attrs)+len(as))
	for k, v := range h.attrs {
		n.attrs[k] = v
	}
	for _, at := range as {
		addAttr(n.attrs, h.group, at)
	}
	return &n
}

// WithGroup returns a handler that prefixes later keys with name.
func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.group = h.group + name + "."
	return &n
}

// addAttr adds at (a group flattened into dotted keys) to m: numbers and
// booleans typed, times as RFC 3339 strings, anything else as its string.
func addAttr(m protocol.Attrs, prefix string, at slog.Attr) {
	v := at.Value.Resolve()
	if at.Equal(slog.Attr{}) {
		return
	}
	if v.Kind() == slog.KindGroup {
		p := prefix
		if at.Key != "" {
			p += at.Key + "."
		}
		for _, g := range v.Group() {
			addAttr(m, p, g)
		}
		return
	}
	if v.Kind() == slog.KindTime {
		m[prefix+at.Key] = v.Time().UTC().Format(time.RFC3339Nano)
		return
	}
	switch v.Kind() {
	case slog.KindInt64:
		m[prefix+at.Key] = protocol.Scalar(v.Int64())
	case slog.KindUint64:
		m[prefix+at.Key] = protocol.Scalar(v.Uint64())
	case slog.KindFloat64:
		m[prefix+at.Key] = protocol.Scalar(v.Float64())
	case slog.KindBool:
		m[prefix+at.Key] = v.Bool()
	default:
		m[prefix+at.Key] = v.String()
	}
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return protocol.LevelDebug
	case l < slog.LevelWarn:
		return protocol.LevelInfo
	case l < slog.LevelError:
		return protocol.LevelWarn
	}
	return protocol.LevelError
}
