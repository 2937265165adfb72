package dynamo

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// A log chunk's entries are stored in a column layout compressed with
// zstd (encodeEntries): DynamoDB bills every 1 KB written, and a small
// batch of JSON entries compressed whole repeats its keys, its sequence
// numbers and the fixed part of its timestamps in every line. In columns
// the sequence numbers vanish (a chunk's lines are consecutive), times are
// differences from the line before, levels and sources are indexes into a
// per-chunk table, and messages sit next to one another, where zstd finds
// what they share. Chunks written before hold gzip of the JSON array
// (protocol.CompressEntries); decodeEntries reads both, told apart by
// their magic numbers.
//
// Layout of the zstd frame's content (integers are unsigned varints,
// "signed" ones zigzag varints as encoding/binary writes them):
//
//	format     1 byte, 1
//	n          count of entries
//	seqs       0 then nothing when they are first, first+1, …; else 1 then n seqs
//	timelayout 0 then times as n signed unix nanoseconds, each the
//	           difference from the one before; or 2, then d (3, 6 or 9)
//	           when every time is a whole number of 10^d nanoseconds
//	           (microseconds, milliseconds, seconds), then n signed
//	           differences in that unit; 1 (a time outside the years 1678
//	           to 2261, which nanoseconds cannot count) then n signed unix
//	           seconds, differences, and n nanoseconds
//	offsets    n signed: the time's zone offset in seconds
//	table      count, then each string: length, bytes (levels and sources)
//	levels     n indexes into table
//	sources    n indexes into table
//	messages   0 then n lengths and the messages one after the other;
//	           or 2 then the messages in segment columns (segments.go),
//	           whichever compresses smaller; or 1 then the messages in
//	           token columns (appendMessages), which builds before the
//	           segment columns wrote and this one reads
//	attrlens   n lengths (0: no attributes)
//	attrs      each line's attributes as a compact JSON object

const chunkFormat = 1

// zstdMagic starts every zstd frame; gzipMagic every gzip stream.
var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// statusDict primes the compression of status samples with the keys of
// the Go agent's status report, which every sample repeats.
var statusDict = []byte(`{"hostname":"","cpu_percent":0.0,"memory_percent":0.0,"disk_percent":0.0,"disk_path":"/var/lib/edgesync-agent","load1":0.0,"load5":0.0,"load15":0.0,"uptime_seconds":0,"terminal_id":"","agent_version":"","config_version":"","time":"2026-01-01T00:00:00.000000000Z","connected":true,"spool_lines":0,"spool_bytes":0,"next_seq":0,"last_ack_seq":0,"dropped_lines":0,"dropped_invalid":0,"reconnects":0,"spool_degraded":false,"spool_memory_lines":0,"status_interval":30}`)

const statusDictID = 1

// The encoders and decoders are safe for concurrent EncodeAll and
// DecodeAll; they are made once per process, on first use.
var (
	entriesEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true), zstd.WithEncoderConcurrency(1))
	})
	statusEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true), zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderDictRaw(statusDictID, statusDict))
	})
	decoder = sync.OnceValues(func() (*zstd.Decoder, error) {
		return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(maxInflatedChunk), zstd.WithDecoderDictRaw(statusDictID, statusDict))
	})
)

// maxInflatedChunk bounds a stored chunk's content once inflated, as
// protocol.DecompressEntries bounds a gzip one.
const maxInflatedChunk = 6 * protocol.MaxInflatedBytes

// encodeEntries returns the stored form of a chunk's entries: the column
// layout with the messages plain or in segment columns, whichever
// compresses smaller.
func encodeEntries(entries []protocol.LogEntry) ([]byte, error) {
	head, tail, err := columns(entries)
	if err != nil {
		return nil, err
	}
	plain, err := compressLayout(head, tail, func(b []byte) []byte { return appendMessages(b, entries, false) })
	if err != nil || len(entries) < segmentFrom {
		return plain, err
	}
	seg, err := compressLayout(head, tail, func(b []byte) []byte { return appendSegments(b, entries) })
	if err != nil || len(seg) >= len(plain) {
		return plain, err
	}
	return seg, nil
}

// compressLayout is the zstd frame of the column layout: head (the
// columns before the messages), the messages column that messages
// appends, tail (the attributes).
func compressLayout(head, tail []byte, messages func([]byte) []byte) ([]byte, error) {
	enc, err := entriesEncoder()
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	b := messages(slices.Clip(head))
	b = append(b, tail...)
	return enc.EncodeAll(b, make([]byte, 0, len(b)/4+64)), nil
}

// pow10 holds the units of the time layout 2: 10^0, 10^3, 10^6 and 10^9
// nanoseconds, by their count of digits.
var pow10 = [10]int64{0: 1, 3: 1e3, 6: 1e6, 9: 1e9}

// segmentFrom is the smallest batch whose segment columns are tried: a
// single line has nothing to line up with.
const segmentFrom = 2

// maxTokens bounds the token columns of a message: its last token holds
// the rest of a longer message.
const maxTokens = 16

// appendMessages appends the messages column, whole or in token columns
// (the layout builds before segments.go wrote; kept so that tests write
// what those builds stored):
// each message split at single spaces into at most maxTokens tokens (so
// joining them with spaces gives it back); then, for each position, the
// tokens of the lines that have one there: a tag each (1: a decimal
// integer, stored as its difference from the column's previous integer;
// 0: a string), the differences, the strings' lengths and the strings. A
// detector's lines ("frame 1000042 cam 3: 4 objects ...") then line up
// their words, and the frame counters shrink to a byte.
func appendMessages(b []byte, entries []protocol.LogEntry, tokenized bool) []byte {
	if !tokenized {
		b = append(b, messagesPlain)
		for _, e := range entries {
			b = binary.AppendUvarint(b, uint64(len(e.Message)))
		}
		for _, e := range entries {
			b = append(b, e.Message...)
		}
		return b
	}
	b = append(b, messagesTokens)
	toks := make([][]string, len(entries))
	width := 0
	for i, e := range entries {
		toks[i] = strings.SplitN(e.Message, " ", maxTokens)
		width = max(width, len(toks[i]))
		b = binary.AppendUvarint(b, uint64(len(toks[i])))
	}
	for p := range width {
		var tags, nums, lens, strs []byte
		var prev int64
		for _, t := range toks {
			if p >= len(t) {
				continue
			}
			if v, ok := decimal(t[p]); ok {
				tags = append(tags, 1)
				nums = binary.AppendVarint(nums, v-prev)
				prev = v
				continue
			}
			tags = append(tags, 0)
			lens = binary.AppendUvarint(lens, uint64(len(t[p])))
			strs = append(strs, t[p]...)
		}
		b = append(b, tags...)
		b = append(b, nums...)
		b = append(b, lens...)
		b = append(b, strs...)
	}
	return b
}

// decimal reports whether tok is an integer written as strconv.FormatInt
// writes it, and its value.
func decimal(tok string) (int64, bool) {
	if len(tok) == 0 || len(tok) > 19 {
		return 0, false
	}
	v, err := strconv.ParseInt(tok, 10, 64)
	if err != nil || strconv.FormatInt(v, 10) != tok {
		return 0, false
	}
	return v, true
}

// readMessages reads the messages column appendMessages wrote.
func readMessages(r *columnReader, entries []protocol.LogEntry) {
	switch r.byte() {
	case messagesSegments:
		readSegments(r, entries)
	case messagesPlain:
		lens := make([]uint64, len(entries))
		for i := range lens {
			lens[i] = r.uvarint()
		}
		for i := range entries {
			entries[i].Message = string(r.bytes(lens[i]))
		}
	case messagesTokens:
		toks := make([][]string, len(entries))
		width := uint64(0)
		for i := range toks {
			n := r.uvarint()
			if n == 0 || n > maxTokens {
				r.fail()
				return
			}
			toks[i] = make([]string, 0, n)
			width = max(width, n)
		}
		counts := make([]int, len(entries))
		for i := range toks {
			counts[i] = cap(toks[i])
		}
		for p := range int(width) {
			var lines []int
			for i := range toks {
				if p < counts[i] {
					lines = append(lines, i)
				}
			}
			tags := r.bytes(uint64(len(lines)))
			var prev int64
			var strIdx []int
			for k, i := range lines {
				if k < len(tags) && tags[k] == 1 {
					prev += r.varint()
					toks[i] = append(toks[i], strconv.FormatInt(prev, 10))
				} else {
					toks[i] = append(toks[i], "")
					strIdx = append(strIdx, i)
				}
			}
			lens := make([]uint64, len(strIdx))
			for k := range lens {
				lens[k] = r.uvarint()
			}
			for k, i := range strIdx {
				toks[i][p] = string(r.bytes(lens[k]))
			}
		}
		for i := range entries {
			entries[i].Message = strings.Join(toks[i], " ")
		}
	default:
		r.fail()
	}
}

// columns lays entries out in columns (see the package's layout): head
// holds the columns before the messages, tail the attributes after them.
func columns(entries []protocol.LogEntry) (head, tail []byte, err error) {
	var b []byte
	b = append(b, chunkFormat)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	consecutive := true
	for i := 1; i < len(entries); i++ {
		if entries[i].Seq != entries[i-1].Seq+1 {
			consecutive = false
			break
		}
	}
	if consecutive {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		for _, e := range entries {
			b = binary.AppendUvarint(b, e.Seq)
		}
	}
	nanos := true
	for _, e := range entries {
		if s := e.Time.Unix(); s <= math.MinInt64/int64(time.Second) || s >= math.MaxInt64/int64(time.Second) {
			nanos = false
		}
	}
	var prev int64
	if nanos {
		// The coarsest of seconds, milliseconds and microseconds that
		// every time is a whole number of (times parsed from log files
		// mostly are): differences in that unit take fewer bytes.
		digits := byte(9)
		for _, e := range entries {
			for digits > 0 && e.Time.UnixNano()%pow10[digits] != 0 {
				digits -= 3
			}
		}
		if digits == 0 {
			b = append(b, 0)
		} else {
			b = append(b, 2, digits)
		}
		for _, e := range entries {
			v := e.Time.UnixNano() / pow10[digits]
			b = binary.AppendVarint(b, v-prev)
			prev = v
		}
	} else {
		b = append(b, 1)
		for _, e := range entries {
			b = binary.AppendVarint(b, e.Time.Unix()-prev)
			prev = e.Time.Unix()
		}
		for _, e := range entries {
			b = binary.AppendUvarint(b, uint64(e.Time.Nanosecond()))
		}
	}
	for _, e := range entries {
		_, off := e.Time.Zone()
		b = binary.AppendVarint(b, int64(off))
	}
	index := map[string]uint64{}
	var table []string
	ref := func(s string) uint64 {
		i, ok := index[s]
		if !ok {
			i = uint64(len(table))
			index[s] = i
			table = append(table, s)
		}
		return i
	}
	levels := make([]uint64, len(entries))
	sources := make([]uint64, len(entries))
	for i, e := range entries {
		levels[i], sources[i] = ref(e.Level), ref(e.Source)
	}
	b = binary.AppendUvarint(b, uint64(len(table)))
	for _, s := range table {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, l := range levels {
		b = binary.AppendUvarint(b, l)
	}
	for _, s := range sources {
		b = binary.AppendUvarint(b, s)
	}
	head = b
	attrs := make([][]byte, len(entries))
	for i, e := range entries {
		if len(e.Attrs) == 0 {
			continue
		}
		raw, err := json.Marshal(e.Attrs)
		if err != nil {
			return nil, nil, fmt.Errorf("encode attributes of line %d: %w", e.Seq, err)
		}
		attrs[i] = raw
	}
	for _, a := range attrs {
		tail = binary.AppendUvarint(tail, uint64(len(a)))
	}
	for _, a := range attrs {
		tail = append(tail, a...)
	}
	return head, tail, nil
}

// decodeEntries reads the stored form of a chunk whose first line is
// firstSeq: the column layout in zstd, or gzip of the JSON array.
func decodeEntries(data []byte, firstSeq uint64) ([]protocol.LogEntry, error) {
	switch {
	case bytes.HasPrefix(data, gzipMagic):
		return protocol.DecompressEntries(data)
	case !bytes.HasPrefix(data, zstdMagic):
		return nil, errors.New("entries are neither zstd nor gzip")
	}
	dec, err := decoder()
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	raw, err := dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("inflate entries: %w", err)
	}
	r := &columnReader{b: raw}
	if f := r.byte(); f != chunkFormat {
		return nil, fmt.Errorf("entries in format %d, this build reads format %d", f, chunkFormat)
	}
	n := r.uvarint()
	if n > protocol.MaxBatchSpan || r.err != nil {
		return nil, fmt.Errorf("entries: count %d out of range", n)
	}
	entries := make([]protocol.LogEntry, n)
	switch r.byte() {
	case 0:
		for i := range entries {
			entries[i].Seq = firstSeq + uint64(i)
		}
	case 1:
		for i := range entries {
			entries[i].Seq = r.uvarint()
		}
	default:
		return nil, errors.New("entries: unknown sequence layout")
	}
	times := make([]time.Time, n)
	switch r.byte() {
	case 0:
		var ns int64
		for i := range times {
			ns += r.varint()
			times[i] = time.Unix(0, ns)
		}
	case 2:
		digits := r.byte()
		if digits != 3 && digits != 6 && digits != 9 {
			return nil, errors.New("entries: unknown time unit")
		}
		var v int64
		for i := range times {
			v += r.varint()
			times[i] = time.Unix(0, v*pow10[digits])
		}
	case 1:
		secs := make([]int64, n)
		var sec int64
		for i := range secs {
			sec += r.varint()
			secs[i] = sec
		}
		for i := range times {
			times[i] = time.Unix(secs[i], int64(r.uvarint()%1e9))
		}
	default:
		return nil, errors.New("entries: unknown time layout")
	}
	zones := map[int64]*time.Location{}
	for i := range entries {
		off := r.varint()
		t := times[i]
		if off == 0 {
			t = t.UTC()
		} else {
			loc, ok := zones[off]
			if !ok {
				loc = time.FixedZone("", int(off))
				zones[off] = loc
			}
			t = t.In(loc)
		}
		entries[i].Time = t
	}
	tn := r.uvarint()
	if r.err != nil || tn > 2*n {
		return nil, errors.New("entries: malformed string table")
	}
	table := make([]string, tn)
	for i := range table {
		table[i] = string(r.bytes(r.uvarint()))
	}
	str := func() string {
		i := r.uvarint()
		if i >= uint64(len(table)) {
			r.fail()
			return ""
		}
		return table[i]
	}
	for i := range entries {
		entries[i].Level = str()
	}
	for i := range entries {
		entries[i].Source = str()
	}
	readMessages(r, entries)
	lens := make([]uint64, n)
	for i := range lens {
		lens[i] = r.uvarint()
	}
	for i := range entries {
		if lens[i] == 0 {
			continue
		}
		if err := json.Unmarshal(r.bytes(lens[i]), &entries[i].Attrs); err != nil && r.err == nil {
			return nil, fmt.Errorf("entries: attributes of line %d: %w", entries[i].Seq, err)
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("entries: %w", r.err)
	}
	if len(r.b) != 0 {
		return nil, errors.New("entries: trailing bytes")
	}
	return entries, nil
}

// columnReader reads the column layout, remembering the first error.
type columnReader struct {
	b   []byte
	err error
}

func (r *columnReader) fail() {
	if r.err == nil {
		r.err = errors.New("truncated or malformed columns")
	}
	r.b = nil
}

func (r *columnReader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *columnReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *columnReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *columnReader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// encodeSample compresses a status sample for a chunk: its time (epoch
// ms) and expiry (ms after its time) as varints, then the report, in one
// zstd frame primed with the agent report's keys.
func encodeSample(smp fleet.StatusSample) ([]byte, error) {
	enc, err := statusEncoder()
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	var b []byte
	b = binary.AppendVarint(b, smp.At.UnixMilli())
	var ttl int64
	if !smp.ExpiresAt.IsZero() {
		ttl = smp.ExpiresAt.Sub(smp.At).Milliseconds()
	}
	b = binary.AppendVarint(b, ttl)
	b = append(b, smp.Data...)
	return enc.EncodeAll(b, nil), nil
}

// decodeSample reverses encodeSample.
func decodeSample(data []byte) (fleet.StatusSample, error) {
	dec, err := decoder()
	if err != nil {
		return fleet.StatusSample{}, fmt.Errorf("zstd decoder: %w", err)
	}
	raw, err := dec.DecodeAll(data, nil)
	if err != nil {
		return fleet.StatusSample{}, fmt.Errorf("inflate status sample: %w", err)
	}
	r := &columnReader{b: raw}
	at, ttl := r.varint(), r.varint()
	if r.err != nil {
		return fleet.StatusSample{}, fmt.Errorf("status sample: %w", r.err)
	}
	smp := fleet.StatusSample{At: time.UnixMilli(at).UTC(), Data: json.RawMessage(r.b)}
	if ttl != 0 {
		smp.ExpiresAt = smp.At.Add(time.Duration(ttl) * time.Millisecond)
	}
	return smp, nil
}
