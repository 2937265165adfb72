package fleet

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// HashToken returns the SHA-256 of a terminal token. Tokens are 256-bit
// random values, so a fast hash is enough; only hashes are stored.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// NewToken returns a fresh random token (shown once to the operator) and the
// credential that accepts it.
func NewToken(now time.Time) (string, Credential) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("crypto/rand: " + err.Error()) // never happens on supported platforms
	}
	token := "est_" + base64.RawURLEncoding.EncodeToString(raw[:])
	var id [6]byte
	_, _ = rand.Read(id[:])
	return token, Credential{ID: hex.EncodeToString(id[:]), Hash: HashToken(token), CreatedAt: now}
}

// Accepts reports whether one of creds accepts token at now. Every
// credential is compared, in constant time, so timing reveals nothing.
func Accepts(creds []Credential, token string, now time.Time) bool {
	h := HashToken(token)
	ok := 0
	for _, c := range creds {
		match := subtle.ConstantTimeCompare(c.Hash, h)
		live := 1
		if !c.NotAfter.IsZero() && !now.Before(c.NotAfter) {
			live = 0
		}
		ok |= match & live
	}
	return ok == 1
}
