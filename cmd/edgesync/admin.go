package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// admin is what the CLI does to a fleet: through the service on a store it
// opened (the local stack stopped, or a DynamoDB table), or through a
// running stack's HTTP API with an admin's token.
type admin interface {
	create(ctx context.Context, id, name string, groups []string) (token string, err error)
	rotate(ctx context.Context, id string, overlap time.Duration) (token string, err error)
	revoke(ctx context.Context, id, credential string) error
	delete(ctx context.Context, id string) error
	// page lists terminals from cursor; "" next after the last page.
	page(ctx context.Context, cursor string) (ts []listed, next string, err error)
}

// listed is a terminal as the list command shows it.
type listed struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Online      bool               `json:"online"`
	LastSeen    time.Time          `json:"lastSeen"`
	Groups      []string           `json:"groups"`
	Credentials []fleet.Credential `json:"credentials"`
}

// serviceAdmin acts through fleet on a store the CLI opened, as who.
type serviceAdmin struct {
	svc *fleet.Service
	who fleet.Principal
}

func (a serviceAdmin) create(ctx context.Context, id, name string, groups []string) (string, error) {
	return a.svc.CreateTerminal(ctx, a.who, id, name, groups)
}

func (a serviceAdmin) rotate(ctx context.Context, id string, overlap time.Duration) (string, error) {
	return a.svc.RotateToken(ctx, a.who, id, overlap)
}

func (a serviceAdmin) revoke(ctx context.Context, id, credential string) error {
	return a.svc.RevokeToken(ctx, a.who, id, credential)
}

func (a serviceAdmin) delete(ctx context.Context, id string) error {
	return a.svc.DeleteTerminal(ctx, a.who, id)
}

func (a serviceAdmin) page(ctx context.Context, cursor string) ([]listed, string, error) {
	ts, next, err := a.svc.Terminals(ctx, a.who, cursor, fleet.MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	out := make([]listed, len(ts))
	for i, t := range ts {
		out[i] = listed{ID: t.ID, Name: t.Name, Online: t.Online, LastSeen: t.LastSeen, Groups: t.Groups, Credentials: t.Credentials}
	}
	return out, next, nil
}

// apiAdmin acts through the HTTP API at base with an admin's bearer token:
// it works while the local stack runs (which holds its store file) and
// against a deployed stack, where the API audits the token's subject.
type apiAdmin struct {
	base   string
	token  string
	client *http.Client
}

func newAPIAdmin(base, token string) (apiAdmin, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return apiAdmin{}, fmt.Errorf("-api %q: want the HTTP API's base URL, e.g. http://127.0.0.1:8080", base)
	}
	if token == "" {
		return apiAdmin{}, errors.New("-api needs -token (or EDGESYNC_TOKEN): an admin's JWT; for the local stack: go run ./cmd/edgesync-local token -role admin")
	}
	return apiAdmin{base: strings.TrimSuffix(base, "/"), token: token, client: &http.Client{Timeout: 30 * time.Second}}, nil
}

// call sends a JSON request and decodes a JSON answer into out (nil: none).
// An error answer becomes an error with the API's code and message.
func (a apiAdmin) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, a.base+path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode >= 300 {
		var e struct{ Code, Message string }
		if json.Unmarshal(raw, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%s %s: %d %s: the token was refused (expired, or not of this stack's issuer)", method, path, resp.StatusCode, e.Message)
		}
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, e.Message)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
		}
	}
	return nil
}

func (a apiAdmin) create(ctx context.Context, id, name string, groups []string) (string, error) {
	var out struct{ Token string }
	err := a.call(ctx, http.MethodPost, "/terminals", map[string]any{"id": id, "name": name, "groups": groups}, &out)
	return out.Token, err
}

func (a apiAdmin) rotate(ctx context.Context, id string, overlap time.Duration) (string, error) {
	var out struct{ Token string }
	err := a.call(ctx, http.MethodPost, "/terminals/"+url.PathEscape(id)+"/credentials/rotate", map[string]any{"overlapSeconds": overlap.Seconds()}, &out)
	return out.Token, err
}

func (a apiAdmin) revoke(ctx context.Context, id, credential string) error {
	return a.call(ctx, http.MethodPost, "/terminals/"+url.PathEscape(id)+"/credentials/revoke", map[string]any{"credentialId": credential}, nil)
}

func (a apiAdmin) delete(ctx context.Context, id string) error {
	return a.call(ctx, http.MethodDelete, "/terminals/"+url.PathEscape(id), nil, nil)
}

func (a apiAdmin) page(ctx context.Context, cursor string) ([]listed, string, error) {
	q := url.Values{"limit": {"500"}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var out struct {
		Terminals  []listed `json:"terminals"`
		NextCursor string   `json:"nextCursor"`
	}
	if err := a.call(ctx, http.MethodGet, "/terminals?"+q.Encode(), nil, &out); err != nil {
		return nil, "", err
	}
	// The listing shows no credentials; ask for each terminal's.
	for i := range out.Terminals {
		var c struct {
			Credentials []fleet.Credential `json:"credentials"`
		}
		if err := a.call(ctx, http.MethodGet, "/terminals/"+url.PathEscape(out.Terminals[i].ID)+"/credentials", nil, &c); err != nil {
			return nil, "", err
		}
		out.Terminals[i].Credentials = c.Credentials
	}
	return out.Terminals, out.NextCursor, nil
}
