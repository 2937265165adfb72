package dynamo

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/edgesync/edgesync/protocol"
)

// The messages column in segment columns (layout 2 of the messages
// column; see the package's layout in chunkcodec.go). Each message is cut
// into text and numbers: a number is a run of ASCII digits of at most
// maxNumberDigits significant digits (its leading zeros counted apart),
// the text is what lies between (possibly empty), so a message with k
// numbers has k+1 texts, at most maxSegmentNumbers numbers (the rest stays
// in the last text). Then, position by position over the lines that have
// one there, a text column (a table of its distinct strings and an index
// per line) and a number column (the values as they are, or as differences
// from the line before, whichever is shorter, and their leading zeros when
// any has some). Lines of one template ("frame 1000042 cam 3: 4 objects
// (person 0.87, vest 0.51) in 33 ms") line up their fields: a text that
// never changes costs an index zstd squeezes to nothing, a class name an
// index into six strings, a frame counter a difference of 1, a score a
// byte. Nothing in this is about one kind of line: a message in which no
// position repeats costs its texts once and an index each, and
// encodeEntries keeps the plain layout whenever that compresses smaller.
// Builds before this layout do not read it (they read layouts 0 and 1):
// code rolled back past it fails to read the chunks written meanwhile
// until it rolls forward again; their lines stay in the table.
//
//	segments   n counts k (numbers in the line, ≤ maxSegmentNumbers); then
//	           for p = 0 … max k: the text column p over the lines with
//	           k ≥ p: table count, each string (length, bytes), an index
//	           per line; then, when p < max k, the number column p over the
//	           lines with k > p: a flags byte (1: differences, 2: zeros
//	           follow), the values (uvarints, or signed differences from
//	           the column's value before, starting at 0), and with flag 2
//	           each value's count of leading zeros.
const (
	messagesPlain    = 0 // lengths, then the messages
	messagesTokens   = 1 // token columns, written before segments (read only)
	messagesSegments = 2 // segment columns (appendSegments)

	maxSegmentNumbers = 32
	maxNumberDigits   = 18 // below 10^18: a difference fits an int64

	numberDeltas = 1
	numberZeros  = 2
)

// segmented is one message cut into texts and numbers: len(texts) ==
// len(nums)+1.
type segmented struct {
	texts []string
	nums  []uint64
	zeros []uint64
}

// segment cuts msg into texts and numbers (see the layout above).
func segment(msg string) segmented {
	var s segmented
	start := 0 // start of the current text
	for i := 0; i < len(msg) && len(s.nums) < maxSegmentNumbers; {
		if !isDigit(msg[i]) {
			i++
			continue
		}
		j := i
		for j < len(msg) && isDigit(msg[j]) {
			j++
		}
		z := i
		for z < j-1 && msg[z] == '0' {
			z++
		}
		if j-z > maxNumberDigits {
			i = j // too long for a number: it stays in the text
			continue
		}
		v, _ := strconv.ParseUint(msg[z:j], 10, 64)
		s.texts = append(s.texts, msg[start:i])
		s.nums = append(s.nums, v)
		s.zeros = append(s.zeros, uint64(z-i))
		start, i = j, j
	}
	s.texts = append(s.texts, msg[start:])
	return s
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// appendSegments appends the messages of entries in segment columns.
func appendSegments(b []byte, entries []protocol.LogEntry) []byte {
	b = append(b, messagesSegments)
	segs := make([]segmented, len(entries))
	width := 0
	for i, e := range entries {
		segs[i] = segment(e.Message)
		width = max(width, len(segs[i].nums))
		b = binary.AppendUvarint(b, uint64(len(segs[i].nums)))
	}
	for p := 0; p <= width; p++ {
		index := map[string]uint64{}
		var table []string
		var refs []byte
		for _, s := range segs {
			if p >= len(s.texts) {
				continue
			}
			t := s.texts[p]
			k, ok := index[t]
			if !ok {
				k = uint64(len(table))
				index[t] = k
				table = append(table, t)
			}
			refs = binary.AppendUvarint(refs, k)
		}
		b = binary.AppendUvarint(b, uint64(len(table)))
		for _, t := range table {
			b = binary.AppendUvarint(b, uint64(len(t)))
			b = append(b, t...)
		}
		b = append(b, refs...)
		if p == width {
			break
		}
		var raw, deltas, zeros []byte
		var prev int64
		anyZeros := false
		for _, s := range segs {
			if p >= len(s.nums) {
				continue
			}
			v := int64(s.nums[p])
			raw = binary.AppendUvarint(raw, uint64(v))
			deltas = binary.AppendVarint(deltas, v-prev)
			prev = v
			zeros = binary.AppendUvarint(zeros, s.zeros[p])
			anyZeros = anyZeros || s.zeros[p] != 0
		}
		var flags byte
		values := raw
		if len(deltas) < len(raw) {
			flags, values = numberDeltas, deltas
		}
		if anyZeros {
			flags |= numberZeros
		}
		b = append(b, flags)
		b = append(b, values...)
		if anyZeros {
			b = append(b, zeros...)
		}
	}
	return b
}

// readSegments reads the segment columns appendSegments wrote (after its
// layout byte) into the messages of entries.
func readSegments(r *columnReader, entries []protocol.LogEntry) {
	counts := make([]int, len(entries))
	width := 0
	for i := range counts {
		k := r.uvarint()
		if k > maxSegmentNumbers {
			r.fail()
			return
		}
		counts[i] = int(k)
		width = max(width, int(k))
	}
	parts := make([]strings.Builder, len(entries))
	// budget bounds what the columns may expand to (a count of zeros is a
	// varint): no more than a chunk may inflate to.
	budget := maxInflatedChunk
	spend := func(n int) bool {
		if n > budget {
			r.fail()
			return false
		}
		budget -= n
		return true
	}
	for p := 0; p <= width && r.err == nil; p++ {
		var lines []int
		for i, k := range counts {
			if p <= k {
				lines = append(lines, i)
			}
		}
		n := r.uvarint()
		if n > uint64(len(lines)) {
			r.fail()
			return
		}
		table := make([]string, n)
		for k := range table {
			table[k] = string(r.bytes(r.uvarint()))
		}
		for _, i := range lines {
			k := r.uvarint()
			if k >= n {
				r.fail()
				return
			}
			if !spend(len(table[k])) {
				return
			}
			parts[i].WriteString(table[k])
		}
		if p == width {
			break
		}
		lines = lines[:0]
		for i, k := range counts {
			if p < k {
				lines = append(lines, i)
			}
		}
		flags := r.byte()
		if flags&^(numberDeltas|numberZeros) != 0 {
			r.fail()
			return
		}
		values := make([]uint64, len(lines))
		var prev int64
		for k := range values {
			if flags&numberDeltas != 0 {
				prev += r.varint()
				values[k] = uint64(prev)
			} else {
				values[k] = r.uvarint()
			}
		}
		for k, i := range lines {
			if flags&numberZeros != 0 {
				z := r.uvarint()
				if z > uint64(maxInflatedChunk) || !spend(int(z)) {
					r.fail()
					return
				}
				parts[i].WriteString(strings.Repeat("0", int(z)))
			}
			v := strconv.FormatUint(values[k], 10)
			if !spend(len(v)) {
				return
			}
			parts[i].WriteString(v)
		}
	}
	for i := range entries {
		entries[i].Message = parts[i].String()
	}
}
