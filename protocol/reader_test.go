package protocol

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// TestBoundedReaderUTF8: the UTF-8 check of the bounded reader agrees with
// utf8.Valid however the input is cut into reads (a sequence may straddle
// two reads).
func TestBoundedReaderUTF8(t *testing.T) {
	t.Parallel()
	inputs := []string{
		"", "ascii", "é", "€", "😀", "a😀b€cé", strings.Repeat("😀", 100),
		"\xc3", "\xc3\x28", "\xe2\x82", "\xe2\x82\x28", "\xf0\x9f\x98", "\xf0\x9f\x98\x28",
		"\x80", "a\x80b", "\xff", "\xed\xa0\x80", "\xc0\xaf", "😀\xf0\x9f",
	}
	cuts := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	}
	for _, in := range inputs {
		for name, cut := range cuts {
			br := &boundedReader{r: cut(strings.NewReader(in)), limit: 1 << 20, window: 1 << 20}
			_, err := io.ReadAll(br)
			if got, want := !errors.Is(err, errNotUTF8), utf8.ValidString(in); got != want || (err != nil && !errors.Is(err, errNotUTF8)) {
				t.Errorf("%q read %s: got error %v, want valid %v", in, name, err, want)
			}
		}
	}
}

// TestBoundedReaderLimits: exactly limit bytes pass, one more fails, and
// the decoder's window is never read past.
func TestBoundedReaderLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		in            string
		limit, window int64
		want          error
	}{
		{"at the limit", "abcd", 4, 100, nil},
		{"over the limit", "abcde", 4, 100, errInflatedTooLarge},
		{"at the window", "abcd", 100, 4, errEntryTooLarge},
		{"within the window", "abc", 100, 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			br := &boundedReader{r: iotest.HalfReader(strings.NewReader(tt.in)), limit: tt.limit, window: tt.window}
			got, err := io.ReadAll(br)
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("ReadAll: got %v, want %v", err, tt.want)
			}
			if int64(len(got)) > min(tt.limit, tt.window) {
				t.Errorf("passed on %d bytes, want at most %d", len(got), min(tt.limit, tt.window))
			}
			if _, again := br.Read(make([]byte, 8)); tt.want != nil && !errors.Is(again, tt.want) {
				t.Errorf("second Read: got %v, want the same error (sticky)", again)
			}
		})
	}
}
