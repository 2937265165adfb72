package batch

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgesync/edgesync/protocol"
)

// Bounds applied by Normalize besides the protocol's own.
const (
	// MaxSourceLength bounds LogEntry.Source, in bytes.
	MaxSourceLength = 128
	// MaxAttrs bounds the number of attributes of one line.
	MaxAttrs = 32
	// MaxAttrKeyLength and MaxAttrValueLength bound one attribute, in bytes.
	MaxAttrKeyLength   = 64
	MaxAttrValueLength = 1024
	// envelopeReserve is room for a logs message's envelope around one entry.
	envelopeReserve = 128
	// EntryLimit is the largest encoded size of one normalized entry: a logs
	// message holding only it stays within protocol.MaxFrameBytes.
	EntryLimit = protocol.MaxFrameBytes - envelopeReserve
)

// Normalize returns e ready to be sequenced and sent: a protocol level
// (an unknown one becomes info and is kept in attribute "level"), a time
// (now if unset or outside the years 1 to 9999), valid UTF-8 everywhere, a message of at most
// protocol.MaxMessageLength bytes, bounded source and attributes, and an
// encoded size of at most EntryLimit. Whatever is cut is replaced by a
// marker saying so; a line is never dropped.
func Normalize(e protocol.LogEntry, now time.Time) protocol.LogEntry {
	level, ok := protocol.NormalizeLevel(e.Level)
	if !ok {
		if e.Attrs == nil {
			e.Attrs = protocol.Attrs{}
		}
		e.Attrs["level"] = e.Level
		level = protocol.LevelInfo
	}
	e.Level = level
	if y := e.Time.Year(); e.Time.IsZero() || y < 1 || y > 9999 {
		// No time, or one RFC 3339 cannot express.
		e.Time = now
	}
	e.Time = e.Time.UTC()
	e.Message = Truncate(strings.ToValidUTF8(e.Message, "\uFFFD"), protocol.MaxMessageLength)
	e.Source = Truncate(strings.ToValidUTF8(e.Source, "\uFFFD"), MaxSourceLength)
	e.Attrs = boundAttrs(e.Attrs)
	return Shrink(e, EntryLimit)
}

// boundAttrs keeps at most MaxAttrs attributes (by key order) with keys
// and string values truncated, every value a JSON scalar (protocol.Scalar).
func boundAttrs(attrs protocol.Attrs) protocol.Attrs {
	if len(attrs) == 0 {
		return nil
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(protocol.Attrs, min(len(keys), MaxAttrs+1))
	for i, k := range keys {
		if i == MaxAttrs {
			out["attrs_truncated"] = len(keys) - MaxAttrs
			break
		}
		nk := Truncate(strings.ToValidUTF8(k, "\uFFFD"), MaxAttrKeyLength)
		v := protocol.Scalar(attrs[k])
		if s, ok := v.(string); ok {
			v = Truncate(strings.ToValidUTF8(s, "\uFFFD"), MaxAttrValueLength)
		}
		out[nk] = v
	}
	return out
}

// Shrink returns e with an encoded size of at most limit bytes: it drops the
// attributes first and then truncates the message, marking both. limit must
// leave room for the entry's fixed fields (a few hundred bytes).
func Shrink(e protocol.LogEntry, limit int) protocol.LogEntry {
	size := encodedSize(e)
	if size <= limit {
		return e
	}
	if len(e.Attrs) > 0 {
		e.Attrs = protocol.Attrs{"attrs_truncated": len(e.Attrs)}
		if size = encodedSize(e); size <= limit {
			return e
		}
	}
	original := e.Message
	keep := len(original)
	for size > limit && keep > 0 {
		// Escaping can make the encoded message several times longer than
		// the raw one, so cut in proportion and check again.
		excess := size - limit
		cut := max(excess, len(original)*excess/max(size, 1))
		keep = max(0, keep-cut-len(marker(len(original))))
		e.Message = truncateTo(original, keep)
		size = encodedSize(e)
	}
	return e
}

func encodedSize(e protocol.LogEntry) int {
	b, err := json.Marshal(e)
	if err != nil {
		return 0
	}
	return len(b)
}

// Truncate shortens s to at most n bytes on a UTF-8 boundary, ending it
// with a marker that says how long it was.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	m := marker(len(s))
	return truncateTo(s, max(0, n-len(m)))
}

// truncateTo keeps the first keep bytes of s (backing off to a rune
// boundary) and appends the marker.
func truncateTo(s string, keep int) string {
	if keep > len(s) {
		keep = len(s)
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + marker(len(s))
}

func marker(total int) string {
	return fmt.Sprintf("…[truncated, %d bytes]", total)
}

// RequestID names the batch of lines first..last in a logs message's
// request_id ("logs:<first>-<last>"). The server echoes a message's
// request_id in the error it answers, which tells the terminal which batch
// was rejected.
func RequestID(first, last uint64) string { return fmt.Sprintf("logs:%d-%d", first, last) }

// ParseRequestID reverses RequestID.
func ParseRequestID(id string) (first, last uint64, ok bool) {
	rest, found := strings.CutPrefix(id, "logs:")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.ParseUint(a, 10, 64)
	last, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || first == 0 || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// logsMessage is a protocol logs message naming its batch in request_id
// (unknown fields are ignored by servers that do not echo it).
type logsMessage struct {
	protocol.Logs
	RequestID string `json:"request_id,omitempty"`
}

// Message is one encoded logs message.
type Message struct {
	FirstSeq uint64
	LastSeq  uint64
	Lines    int
	Gzip     bool
	// Status reports whether the message carries the status report
	// offered to PackStatus.
	Status bool
	Body   []byte
}

// Pack encodes the longest prefix of entries (in increasing Seq order) that
// fits in one logs message of at most limit bytes, holds consecutive
// sequence numbers only (it stops at a gap) and at most
// protocol.MaxBatchSpan entries, gzip-compressed when that carries more
// lines or is smaller. dropped fills Logs.Dropped; request_id names the
// batch (see RequestID). If the first entry alone does not fit, it is sent
// shrunk (see Shrink), never left out.
func Pack(entries []protocol.LogEntry, dropped uint64, limit int) (Message, error) {
	return PackStatus(entries, dropped, nil, limit)
}

// PackStatus is Pack for a message that also carries the status report
// status (a JSON object; nil for none) in Logs.Status, within the same
// limit. If even the first entry does not fit beside the report, the
// message is packed without it (Message.Status is false).
func PackStatus(entries []protocol.LogEntry, dropped uint64, status json.RawMessage, limit int) (Message, error) {
	return PackWith(entries, Options{Dropped: dropped, Status: status}, limit)
}

// Options are what a logs message carries besides its lines.
type Options struct {
	// Dropped fills Logs.Dropped.
	Dropped uint64
	// Status is a status report to carry (nil for none); see PackStatus.
	Status json.RawMessage
	// Ack and AckFrom fill Logs.Ack and Logs.AckFrom.
	Ack     string
	AckFrom uint64
}

// PackWith is PackStatus with every field of the message given.
func PackWith(entries []protocol.LogEntry, o Options, limit int) (Message, error) {
	dropped, status := o.Dropped, o.Status
	if len(entries) == 0 {
		return Message{}, fmt.Errorf("pack logs: no entries")
	}
	n := 1
	for n < len(entries) && n < protocol.MaxBatchSpan && entries[n].Seq == entries[n-1].Seq+1 {
		n++
	}
	cand := entries[:n]
	raws := make([][]byte, n)
	for i := range cand {
		raw, err := json.Marshal(cand[i])
		if err != nil {
			return Message{}, fmt.Errorf("pack logs: encode line %d: %w", cand[i].Seq, err)
		}
		raws[i] = raw
	}
	id := func(k int) string { return RequestID(cand[0].Seq, cand[max(k, 1)-1].Seq) }
	plain := func(k int) ([]byte, error) {
		return protocol.Encode(logsMessage{protocol.Logs{Type: protocol.TypeLogs, Entries: cand[:k], Dropped: dropped, Status: status, Ack: o.Ack, AckFrom: o.AckFrom}, id(k)})
	}
	zipped := func(k int) ([]byte, error) {
		data, err := compress(raws[:k])
		if err != nil {
			return nil, err
		}
		return protocol.Encode(logsMessage{protocol.Logs{Type: protocol.TypeLogs, Encoding: protocol.EncodingGzip, Data: data, Dropped: dropped, Status: status, Ack: o.Ack, AckFrom: o.AckFrom}, id(k)})
	}
	// The envelope, with the longest request_id any prefix can have.
	base, err := protocol.Encode(logsMessage{protocol.Logs{Type: protocol.TypeLogs, Dropped: dropped, Status: status, Ack: o.Ack, AckFrom: o.AckFrom}, id(n)})
	if err != nil {
		return Message{}, fmt.Errorf("pack logs: %w", err)
	}
	// Plain size is exact arithmetic: `,"entries":[` ... `]` around the
	// comma-separated lines (checked against the real encoding below).
	kPlain, size := 0, len(base)+len(`,"entries":[]`)
	for kPlain < n {
		next := size + len(raws[kPlain])
		if kPlain > 0 {
			next++
		}
		if next > limit {
			break
		}
		size, kPlain = next, kPlain+1
	}
	var gzBody []byte
	kGz := 0
	if body, err := zipped(n); err != nil {
		return Message{}, fmt.Errorf("pack logs: %w", err)
	} else if len(body) <= limit {
		kGz, gzBody = n, body
	} else if kPlain < n {
		// Largest k with a fitting gzip body; compressed size grows with k.
		lo, hi := 0, n // fits(lo) (vacuously for 0), !fits(hi)
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			body, err := zipped(mid)
			if err != nil {
				return Message{}, fmt.Errorf("pack logs: %w", err)
			}
			if len(body) <= limit {
				lo, gzBody = mid, body
			} else {
				hi = mid
			}
		}
		kGz = lo
	}
	var body []byte
	for kPlain > 0 {
		if body, err = plain(kPlain); err != nil {
			return Message{}, fmt.Errorf("pack logs: %w", err)
		}
		if len(body) <= limit {
			break
		}
		kPlain--
		body = nil
	}
	if kPlain == 0 && kGz == 0 && status != nil {
		o.Status = nil
		return PackWith(entries, o, limit)
	}
	if kPlain == 0 && kGz == 0 {
		e := Shrink(cand[0], limit-len(base)-envelopeReserve)
		if encodedSize(e) >= encodedSize(cand[0]) {
			return Message{}, fmt.Errorf("pack logs: line %d cannot be made to fit in %d bytes", cand[0].Seq, limit)
		}
		return PackWith([]protocol.LogEntry{e}, o, limit)
	}
	if kGz > kPlain || (kGz == kPlain && len(gzBody) < len(body)) {
		return Message{FirstSeq: cand[0].Seq, LastSeq: cand[kGz-1].Seq, Lines: kGz, Gzip: true, Status: status != nil, Body: gzBody}, nil
	}
	return Message{FirstSeq: cand[0].Seq, LastSeq: cand[kPlain-1].Seq, Lines: kPlain, Status: status != nil, Body: body}, nil
}

// PackAll splits entries into as many messages as Pack needs.
func PackAll(entries []protocol.LogEntry, dropped uint64, limit int) ([]Message, error) {
	return PackAllWith(entries, Options{Dropped: dropped}, limit)
}

// PackAllWith splits entries into as many messages as PackWith needs, each
// with o's fields but Status.
func PackAllWith(entries []protocol.LogEntry, o Options, limit int) ([]Message, error) {
	o.Status = nil
	var out []Message
	for len(entries) > 0 {
		m, err := PackWith(entries, o, limit)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		entries = entries[m.Lines:]
	}
	return out, nil
}

// Newest encodes the longest suffix of entries whose wrapped encoding fits
// in limit bytes, offering wrap both the plain and the gzip form of a
// protocol.GetLogsResult and keeping the smaller. It returns the body and the
// number of entries it holds (0 when entries is empty).
func Newest(entries []protocol.LogEntry, dropped uint64, limit int, wrap func(protocol.GetLogsResult) ([]byte, error)) ([]byte, int, error) {
	encode := func(k int) ([]byte, error) {
		tail := entries[len(entries)-k:]
		plainBody, err := wrap(protocol.GetLogsResult{Entries: tail, Dropped: dropped})
		if err != nil || k == 0 {
			return plainBody, err
		}
		raws := make([][]byte, len(tail))
		for i := range tail {
			if raws[i], err = json.Marshal(tail[i]); err != nil {
				return nil, err
			}
		}
		data, err := compress(raws)
		if err != nil {
			return nil, err
		}
		gzBody, err := wrap(protocol.GetLogsResult{Encoding: protocol.EncodingGzip, Data: data, Dropped: dropped})
		if err != nil {
			return nil, err
		}
		if len(gzBody) < len(plainBody) {
			return gzBody, nil
		}
		return plainBody, nil
	}
	body, err := encode(len(entries))
	if err != nil {
		return nil, 0, fmt.Errorf("encode logs: %w", err)
	}
	if len(body) <= limit {
		return body, len(entries), nil
	}
	lo, hi := 0, len(entries)
	if body, err = encode(0); err != nil {
		return nil, 0, fmt.Errorf("encode logs: %w", err)
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		b, err := encode(mid)
		if err != nil {
			return nil, 0, fmt.Errorf("encode logs: %w", err)
		}
		if len(b) <= limit {
			lo, body = mid, b
		} else {
			hi = mid
		}
	}
	return body, lo, nil
}

// gzipWriters are reused: a new writer allocates about a megabyte of
// compressor state, and Pack compresses several candidate batches.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

// compress gzips the JSON array of the already encoded entries, as
// protocol.CompressEntries does.
func compress(raws [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	zw.Write([]byte{'['})
	for i, r := range raws {
		if i > 0 {
			zw.Write([]byte{','})
		}
		zw.Write(r)
	}
	zw.Write([]byte{']'})
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress entries: %w", err)
	}
	return buf.Bytes(), nil
}
