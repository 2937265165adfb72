package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
)

// coder/websocket reassembles fragmented messages and offers a limit per
// message only, so the per-frame limit is enforced beneath it: the
// ResponseWriter given to websocket.Accept hijacks into a net.Conn whose Read
// follows the client's frame headers as the bytes pass through. When a data
// frame (text, binary or continuation) announces a payload over the limit,
// it calls tooBig before coder/websocket has seen the header; the connection
// then closes with 1009 and the message is discarded. Control frames are
// limited to 125 bytes by the protocol itself.

// frameLimitWriter wraps the ResponseWriter of a WebSocket handshake.
type frameLimitWriter struct {
	http.ResponseWriter
	limit  uint64
	tooBig func(size uint64)
}

// Hijack hijacks the underlying connection and returns it wrapped in a
// frame-inspecting net.Conn.
func (w *frameLimitWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	// Bytes the server had already read past the handshake come first.
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	fc := &frameLimitConn{
		Conn: conn,
		r:    io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), conn),
		scan: frameScanner{limit: w.limit, tooBig: w.tooBig},
	}
	return fc, bufio.NewReadWriter(bufio.NewReader(fc), brw.Writer), nil
}

// Unwrap returns the wrapped ResponseWriter (for http.ResponseController).
func (w *frameLimitWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type frameLimitConn struct {
	net.Conn
	r    io.Reader
	scan frameScanner
}

func (c *frameLimitConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.scan.scan(p[:n])
	return n, err
}

// frameScanner follows the frame boundaries of a client-to-server WebSocket
// byte stream (RFC 6455 section 5.2).
type frameScanner struct {
	limit  uint64
	tooBig func(size uint64)

	hdr     [14]byte
	have    int    // header bytes collected
	need    int    // header length, known once 2 bytes are in
	payload uint64 // payload bytes of the current frame still to pass
	tripped bool
}

func (s *frameScanner) scan(p []byte) {
	for len(p) > 0 && !s.tripped {
		if s.payload > 0 {
			n := uint64(len(p))
			if n > s.payload {
				n = s.payload
			}
			s.payload -= n
			p = p[n:]
			continue
		}
		s.hdr[s.have] = p[0]
		s.have++
		p = p[1:]
		if s.have == 2 {
			s.need = 2
			switch s.hdr[1] & 0x7f {
			case 126:
				s.need += 2
			case 127:
				s.need += 8
			}
			if s.hdr[1]&0x80 != 0 {
				s.need += 4 // masking key
			}
		}
		if s.have < 2 || s.have < s.need {
			continue
		}
		var size uint64
		switch l := s.hdr[1] & 0x7f; l {
		case 126:
			size = uint64(binary.BigEndian.Uint16(s.hdr[2:4]))
		case 127:
			size = binary.BigEndian.Uint64(s.hdr[2:10])
		default:
			size = uint64(l)
		}
		opcode := s.hdr[0] & 0x0f
		s.have, s.need, s.payload = 0, 0, size
		if opcode <= 2 && size > s.limit { // continuation, text, binary
			s.tripped = true
			s.tooBig(size)
		}
	}
}
