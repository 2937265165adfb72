package fleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// RotateToken issues a new token for the terminal. Existing credentials
// keep working for overlap (so a fleet can roll the new token out), then
// stop; a credential that already ends sooner keeps its earlier end. It
// needs the admin role and is audited.
func (s *Service) RotateToken(ctx context.Context, p Principal, id string, overlap time.Duration) (token string, err error) {
	if err := s.allow(ctx, p, opRotateToken, id); err != nil {
		return "", err
	}
	err = s.audited(ctx, p, AuditCredentialRotate, id, map[string]any{"overlapSeconds": overlap.Seconds()}, func() error {
		token, err = s.rotateToken(ctx, p, id, overlap)
		return err
	})
	return token, err
}

func (s *Service) rotateToken(ctx context.Context, p Principal, id string, overlap time.Duration) (string, error) {
	if overlap < 0 {
		return "", fmt.Errorf("overlap %v: must not be negative: %w", overlap, ErrInvalid)
	}
	t, err := s.visible(ctx, p, opRotateToken, id)
	if err != nil {
		return "", err
	}
	now := s.now()
	end := now.Add(overlap)
	creds := make([]Credential, 0, len(t.Credentials)+1)
	for _, c := range t.Credentials {
		if !c.NotAfter.IsZero() && !now.Before(c.NotAfter) {
			continue // long dead: drop it
		}
		if c.NotAfter.IsZero() || end.Before(c.NotAfter) {
			c.NotAfter = end
		}
		creds = append(creds, c)
	}
	token, cred := NewToken(now)
	creds = append(creds, cred)
	if err := s.store.SetCredentials(ctx, t.ID, creds); err != nil {
		return "", fmt.Errorf("rotate token of %s: %w", id, err)
	}
	return token, nil
}

// RevokeToken ends one credential (by its id) or, with credID "", every
// credential of the terminal at once. ErrNotFound for an unknown credential.
// A revoked token fails at the next $connect; a live connection is not cut.
// It needs the admin role and is audited.
func (s *Service) RevokeToken(ctx context.Context, p Principal, id, credID string) error {
	if err := s.allow(ctx, p, opRevokeToken, id); err != nil {
		return err
	}
	return s.audited(ctx, p, AuditCredentialRevoke, id, map[string]any{"credential": credID}, func() error {
		return s.revokeToken(ctx, p, id, credID)
	})
}

func (s *Service) revokeToken(ctx context.Context, p Principal, id, credID string) error {
	t, err := s.visible(ctx, p, opRevokeToken, id)
	if err != nil {
		return err
	}
	now := s.now()
	found := false
	for i := range t.Credentials {
		c := &t.Credentials[i]
		if credID != "" && c.ID != credID {
			continue
		}
		found = true
		if c.NotAfter.IsZero() || now.Before(c.NotAfter) {
			c.NotAfter = now
		}
	}
	if credID != "" && !found {
		return fmt.Errorf("revoke credential %s of %s: %w", credID, id, ErrNotFound)
	}
	if err := s.store.SetCredentials(ctx, t.ID, t.Credentials); err != nil {
		return fmt.Errorf("revoke credentials of %s: %w", id, err)
	}
	return nil
}

// Credentials returns the terminal's credentials (hashes are never shown).
// It needs the admin role.
func (s *Service) Credentials(ctx context.Context, p Principal, id string) ([]Credential, error) {
	t, err := s.access(ctx, p, opListCredentials, id)
	if err != nil {
		return nil, err
	}
	return t.Credentials, nil
}

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
