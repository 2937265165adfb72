package fleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// credentialAttempts bounds the read-modify-write of a credential change:
// each attempt that loses to a concurrent change (ErrConflict) reads again.
const credentialAttempts = 4

// RotateToken issues a new token for the terminal. Existing credentials
// keep working for overlap (so a fleet can roll the new token out), then
// stop; a credential that already ends sooner keeps its earlier end. With
// overlap 0 the old credentials end at once and so do the connections
// that authenticated with them. It needs the admin role and is audited.
// ErrConflict when concurrent credential changes kept it from applying.
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
	var token string
	err := s.changeCredentials(ctx, p, opRotateToken, id, func(now time.Time, creds []Credential) ([]Credential, error) {
		end := now.Add(overlap)
		out := make([]Credential, 0, len(creds)+1)
		for _, c := range creds {
			if !c.NotAfter.IsZero() && !now.Before(c.NotAfter) {
				continue // long dead: drop it
			}
			if c.NotAfter.IsZero() || end.Before(c.NotAfter) {
				c.NotAfter = end
			}
			out = append(out, c)
		}
		var cred Credential
		token, cred = NewToken(now)
		return append(out, cred), nil
	})
	if err != nil {
		return "", fmt.Errorf("rotate token of %s: %w", id, err)
	}
	return token, nil
}

// RevokeToken ends one credential (by its id) or, with credID "", every
// credential of the terminal at once. ErrNotFound for an unknown credential.
// A revoked token fails at the next $connect, and the connections that
// authenticated with it end at once: their bindings are deleted (their
// messages are refused from then on) and they are closed through the
// management API. It needs the admin role and is audited. ErrConflict
// when concurrent credential changes kept it from applying.
func (s *Service) RevokeToken(ctx context.Context, p Principal, id, credID string) error {
	if err := s.allow(ctx, p, opRevokeToken, id); err != nil {
		return err
	}
	return s.audited(ctx, p, AuditCredentialRevoke, id, map[string]any{"revoked_id": credID}, func() error {
		return s.revokeToken(ctx, p, id, credID)
	})
}

func (s *Service) revokeToken(ctx context.Context, p Principal, id, credID string) error {
	err := s.changeCredentials(ctx, p, opRevokeToken, id, func(now time.Time, creds []Credential) ([]Credential, error) {
		found := false
		for i := range creds {
			c := &creds[i]
			if credID != "" && c.ID != credID {
				continue
			}
			found = true
			if c.NotAfter.IsZero() || now.Before(c.NotAfter) {
				c.NotAfter = now
			}
		}
		if credID != "" && !found {
			return nil, fmt.Errorf("revoke credential %s of %s: %w", credID, id, ErrNotFound)
		}
		return creds, nil
	})
	if err != nil {
		return fmt.Errorf("revoke credentials of %s: %w", id, err)
	}
	return nil
}

// changeCredentials reads the terminal, lets change compute its new
// credentials and writes them over the version it read, reading again
// when a concurrent change won, at most credentialAttempts times
// (ErrConflict then). Once written, the connections whose credential is
// no longer live end (endConnections).
func (s *Service) changeCredentials(ctx context.Context, p Principal, op operation, id string, change func(now time.Time, creds []Credential) ([]Credential, error)) error {
	var (
		t     Terminal
		creds []Credential
		now   time.Time
		err   error
	)
	for attempt := 1; ; attempt++ {
		if t, err = s.visible(ctx, p, op, id); err != nil {
			return err
		}
		now = s.now()
		if creds, err = change(now, slices.Clone(t.Credentials)); err != nil {
			return err
		}
		err = s.store.SetCredentials(ctx, t.ID, creds, t.CredentialsVersion)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrConflict) || attempt == credentialAttempts {
			return err
		}
		slog.InfoContext(ctx, "credentials changed concurrently; reading again", "terminal", id, "attempt", attempt)
	}
	live := map[string]bool{}
	for _, c := range creds {
		if c.NotAfter.IsZero() || now.Before(c.NotAfter) {
			live[c.ID] = true
		}
	}
	_, err = s.endConnections(ctx, t.ID, func(c Connection) bool { return !live[c.CredentialID] }, "credential revoked", true)
	return err
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
	_, ok := acceptingCredential(creds, token, now)
	return ok
}

// acceptingCredential returns the credential of creds that accepts token
// at now. Every credential is compared, in constant time.
func acceptingCredential(creds []Credential, token string, now time.Time) (Credential, bool) {
	h := HashToken(token)
	found := -1
	for i, c := range creds {
		match := subtle.ConstantTimeCompare(c.Hash, h)
		live := 1
		if !c.NotAfter.IsZero() && !now.Before(c.NotAfter) {
			live = 0
		}
		found = subtle.ConstantTimeSelect(match&live, i, found)
	}
	if found < 0 {
		return Credential{}, false
	}
	return creds[found], true
}
