package idp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

// Issuer signs and verifies the local stack's tokens.
type Issuer struct {
	key      *ecdsa.PrivateKey
	kid      string
	issuer   string
	audience string
	now      func() time.Time
}

// Errors of Verify.
var (
	ErrMalformed = errors.New("malformed token")
	ErrSignature = errors.New("bad signature")
	ErrExpired   = errors.New("token expired")
	ErrNotYet    = errors.New("token not valid yet")
	ErrIssuer    = errors.New("wrong issuer")
	ErrAudience  = errors.New("wrong audience")
)

// LoadOrCreate returns the issuer whose P-256 key is kept in keyFile,
// creating the key (mode 0600) on first use.
func LoadOrCreate(keyFile, issuer, audience string) (*Issuer, error) {
	var key *ecdsa.PrivateKey
	if data, err := os.ReadFile(keyFile); err == nil {
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: not PEM", keyFile)
		}
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyFile, err)
		}
		key = k
	} else if errors.Is(err, os.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("save signing key: %w", err)
		}
		key = k
	} else {
		return nil, err
	}
	return New(key, issuer, audience), nil
}

// New returns an issuer signing with key, which must be a P-256 key (ES256).
func New(key *ecdsa.PrivateKey, issuer, audience string) *Issuer {
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(pub)
	return &Issuer{key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:8]), issuer: issuer, audience: audience, now: time.Now}
}

// WithClock makes the issuer read time from now (tests).
func (i *Issuer) WithClock(now func() time.Time) *Issuer { c := *i; c.now = now; return &c }

// Issuer returns the "iss" the issuer signs and requires.
func (i *Issuer) Issuer() string { return i.issuer }

// Audience returns the "aud" the issuer signs and requires.
func (i *Issuer) Audience() string { return i.audience }

// Mint signs a token for subject valid for ttl. groups becomes the
// "cognito:groups" claim, the edgesync default for roles and terminal groups.
func (i *Issuer) Mint(subject string, groups []string, ttl time.Duration) (string, error) {
	now := i.now()
	claims := map[string]any{
		"iss": i.issuer, "aud": i.audience, "sub": subject,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
		"token_use": "id", "cognito:groups": groups,
	}
	return i.Sign(claims)
}

// Sign signs arbitrary claims (tests use it for wrong issuers, audiences,
// expiries).
func (i *Issuer) Sign(claims map[string]any) (string, error) {
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": i.kid})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64(header) + "." + b64(body)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, i.key, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWKS returns the issuer's public key set.
func (i *Issuer) JWKS() []byte {
	// The uncompressed point is 0x04, then X and Y of 32 bytes each; only
	// a key that is not P-256, against New's contract, fails here.
	point, err := i.key.PublicKey.Bytes()
	if err != nil || len(point) != 65 {
		panic(fmt.Sprintf("idp: encode the P-256 public key: %v (%d bytes)", err, len(point)))
	}
	x, y := point[1:33], point[33:]
	out, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": i.kid, "x": b64(x), "y": b64(y),
	}}})
	return out
}

// Verify checks a token as API Gateway's JWT authorizer does and returns
// its claims in API Gateway's form: strings as they are, numbers and
// booleans formatted, lists as "[a b]", objects as JSON.
func (i *Issuer) Verify(token string) (map[string]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, ErrMalformed
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil {
		return nil, ErrMalformed
	}
	if header.Alg != "ES256" || header.Kid != i.kid {
		return nil, fmt.Errorf("%w: alg %q kid %q", ErrSignature, header.Alg, header.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, ErrMalformed
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(&i.key.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, ErrSignature
	}
	bb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, ErrMalformed
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(bb)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, ErrMalformed
	}
	now := i.now().Unix()
	exp, ok := number(claims["exp"])
	if !ok {
		return nil, fmt.Errorf("%w: no exp", ErrMalformed)
	}
	if now >= exp {
		return nil, ErrExpired
	}
	if nbf, ok := number(claims["nbf"]); ok && now < nbf {
		return nil, ErrNotYet
	}
	if claims["iss"] != i.issuer {
		return nil, fmt.Errorf("%w: %v", ErrIssuer, claims["iss"])
	}
	if !hasAudience(claims["aud"], i.audience) {
		return nil, fmt.Errorf("%w: %v", ErrAudience, claims["aud"])
	}
	out := make(map[string]string, len(claims))
	for k, v := range claims {
		out[k] = claimString(v)
	}
	return out, nil
}

func number(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil {
			return 0, false
		}
		return int64(f), true
	}
	return i, true
}

func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if x == want {
				return true
			}
		}
	}
	return false
}

func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = claimString(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Authorize verifies the request's "Authorization: Bearer" token; it fits
// gateway.JWTAuthorizer.
func (i *Issuer) Authorize(r *http.Request) (map[string]string, []string, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, nil, errors.New("no bearer token")
	}
	claims, err := i.Verify(strings.TrimSpace(token))
	if err != nil {
		return nil, nil, err
	}
	var scopes []string
	if sc := claims["scope"]; sc != "" {
		scopes = strings.Fields(sc)
		sort.Strings(scopes)
	}
	return claims, scopes, nil
}
