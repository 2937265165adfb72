package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A segment file is a sequence of records:
//
//	length  uint32 (big endian) of kind and payload
//	crc     uint32, CRC-32C of kind and payload
//	kind    byte
//	payload length-1 bytes
//
// A record that is cut short or fails its checksum ends the file's valid
// part (a crash during a write leaves such a tail; it is truncated away).
const recordHeader = 8

// Record kinds.
const (
	// recCheckpoint starts every segment: the whole state (counters,
	// marks, removed sequence numbers) as JSON.
	recCheckpoint byte = 1
	// recLine is one line: its sequence number (8 bytes), then its JSON.
	recLine byte = 2
	// recRemove removes lines: why (removeAck, removeInvalid), first,
	// last and how many of them were held (8 bytes each).
	recRemove byte = 3
	// recLost adds to the dropped counter (8 bytes).
	recLost byte = 4
	// recMark stores an input checkpoint: name length (2 bytes), name, value.
	recMark byte = 5
	// recEvict says a segment was deleted to stay within the bound: its id
	// and how many lines it still held (counted as dropped).
	recEvict byte = 6
	// recVolatile says sequence numbers below until may have been handed
	// out to lines kept only in memory (the disk refused writes).
	recVolatile byte = 7
)

const (
	removeAck     byte = 1
	removeInvalid byte = 2
)

// maxRecord bounds a record's length when reading (a corrupt length must
// not make the reader allocate gigabytes).
const maxRecord = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends one record to buf.
func appendRecord(buf []byte, kind byte, payload ...[]byte) []byte {
	n := 1
	for _, p := range payload {
		n += len(p)
	}
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	buf = append(buf, 0, 0, 0, 0, kind)
	for _, p := range payload {
		buf = append(buf, p...)
	}
	crc := crc32.Checksum(buf[start+recordHeader:], castagnoli)
	binary.BigEndian.PutUint32(buf[start+4:], crc)
	return buf
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func u64s(vs ...uint64) []byte {
	out := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		out = binary.BigEndian.AppendUint64(out, v)
	}
	return out
}

// errBadRecord marks the end of a file's valid part.
var errBadRecord = errors.New("incomplete or corrupt record")

// recordReader reads records from a segment.
type recordReader struct {
	r   *bufio.Reader
	off int64 // offset of the next record
	buf []byte
}

func newRecordReader(r io.Reader, off int64) *recordReader {
	return &recordReader{r: bufio.NewReaderSize(r, 64*1024), off: off}
}

// next returns the next record's offset, kind and payload (valid until the
// next call). It returns io.EOF at a clean end and errBadRecord (wrapped)
// at a cut or corrupt record.
func (rr *recordReader) next() (off int64, kind byte, payload []byte, err error) {
	var h [recordHeader]byte
	n, err := io.ReadFull(rr.r, h[:])
	if errors.Is(err, io.EOF) {
		return rr.off, 0, nil, io.EOF
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) && n > 0 {
			return rr.off, 0, nil, fmt.Errorf("%w: header cut at offset %d", errBadRecord, rr.off)
		}
		return rr.off, 0, nil, err
	}
	length := binary.BigEndian.Uint32(h[:4])
	if length == 0 || length > maxRecord {
		return rr.off, 0, nil, fmt.Errorf("%w: length %d at offset %d", errBadRecord, length, rr.off)
	}
	if cap(rr.buf) < int(length) {
		rr.buf = make([]byte, length)
	}
	body := rr.buf[:length]
	if _, err := io.ReadFull(rr.r, body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return rr.off, 0, nil, fmt.Errorf("%w: record cut at offset %d", errBadRecord, rr.off)
		}
		return rr.off, 0, nil, err
	}
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(h[4:]) {
		return rr.off, 0, nil, fmt.Errorf("%w: checksum mismatch at offset %d", errBadRecord, rr.off)
	}
	off = rr.off
	rr.off += recordHeader + int64(length)
	return off, body[0], body[1:], nil
}
