package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
)

// newGatewayID returns an identifier shaped like the connection, request and
// message ids API Gateway generates ("R1kmxc2VNjMCFIA="): 11 random bytes in
// standard base64. Ids containing '/' or '+' are redrawn so an id can be put
// in a URL path unescaped.
func newGatewayID() string {
	var b [11]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		id := base64.StdEncoding.EncodeToString(b[:])
		if !strings.ContainsAny(id, "/+") {
			return id
		}
	}
}

// newAPIID returns a 10-character lower-case alphanumeric API id like
// "gy415nuibc".
func newAPIID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [10]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// newRequestUUID returns a random (version 4) UUID, the form of the
// x-amzn-RequestId header.
func newRequestUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
