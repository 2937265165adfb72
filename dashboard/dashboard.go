package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// site is web/ as the page is served: index.html and style.css as
// written, js/ compiled from src/ (see the package comment).
//
//go:embed web
var site embed.FS

// AssetPrefix is the URL path under which Handler serves the page's assets.
const AssetPrefix = "/ui/"

// contentSecurityPolicy lets the page load only its own scripts and styles
// and connect only to its own origin and the API origins it was given: the
// page sends the user's token to the API it calls, so the browser enforces
// the same allow-list as the page's script (see Options.APIOrigins).
func contentSecurityPolicy(apiOrigins []string) string {
	connect := strings.Join(append([]string{"'self'"}, apiOrigins...), " ")
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src " + connect + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
}

// Options configure the page New serves.
type Options struct {
	// APIOrigins are the origins of the HTTP API the page may call besides
	// its own, each scheme://host[:port] (e.g.
	// https://abc123.execute-api.eu-west-1.amazonaws.com). The page sends
	// the user's token only to its own origin and these: it refuses any
	// other ?api= or API field value, and its Content-Security-Policy
	// (connect-src) names the same list. Empty: the page's own origin only.
	APIOrigins []string
	// AgentServerURL is the WebSocket URL terminals connect to
	// (wss://{api-id}.execute-api.{region}.amazonaws.com/{stage}); the page
	// puts it in the agent configuration it shows for a newly registered
	// terminal. Empty: the page shows a placeholder to fill in.
	AgentServerURL string
}

// Meta tags of web/index.html that New fills in; a copy of web/ served by
// another host sets them by hand.
const (
	metaAPIOrigins     = `<meta name="edgesync-api-origins" content="">`
	metaAgentServerURL = `<meta name="edgesync-agent-server-url" content="">`
)

// ParseAPIOrigins splits a comma-separated list of origins (the query
// function's DASHBOARD_API_ORIGINS) and checks each as Options.APIOrigins
// wants it: http or https, a host, an optional port, nothing else (no path,
// no wildcard). It returns them in canonical form (lower case, default port
// dropped), as a browser writes an origin. An empty list is no error.
func ParseAPIOrigins(list string) ([]string, error) {
	var out []string
	var errs []error
	for _, o := range strings.Split(list, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		c, err := canonicalOrigin(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// hostPort is a host name, IPv4 or bracketed IPv6 address with an optional
// port: nothing that could end a CSP source or an HTML attribute.
var hostPort = regexp.MustCompile(`^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:[0-9]{1,5})?$`)

func canonicalOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("API origin %q: want http(s)://host[:port], e.g. https://abc123.execute-api.eu-west-1.amazonaws.com", o)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return "", fmt.Errorf("API origin %q: an origin is scheme://host[:port], without user, path, query or fragment", o)
	}
	host := strings.ToLower(u.Host)
	if !hostPort.MatchString(host) {
		return "", fmt.Errorf("API origin %q: %q is not a host name or address with an optional port (no wildcards)", o, u.Host)
	}
	if (u.Scheme == "https" && strings.HasSuffix(host, ":443")) || (u.Scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return u.Scheme + "://" + host, nil
}

func checkAgentServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("agent server URL %q: want ws(s)://host[:port]/stage, the URL terminals connect to", s)
	}
	return nil
}

// contentTypes are set explicitly: module scripts need a JavaScript MIME
// type and the host's MIME database may not have one.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

type handler struct {
	index  asset
	csp    string
	assets map[string]asset // by path under web/, e.g. "js/main.js"
}

// New returns the handler of the dashboard configured by opts: GET or HEAD
// of "/" (and "/index.html") answers the page, of AssetPrefix+name the
// asset name; anything else is 404, and other methods are 405. Responses
// carry an ETag and Cache-Control: no-cache, so browsers revalidate cheaply
// and never run a stale script after a deploy. The error names an origin or
// URL in opts that is not one.
func New(opts Options) (http.Handler, error) {
	origins := make([]string, 0, len(opts.APIOrigins))
	for _, o := range opts.APIOrigins {
		c, err := canonicalOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		origins = append(origins, c)
	}
	if opts.AgentServerURL != "" {
		if err := checkAgentServerURL(opts.AgentServerURL); err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
	}
	h, err := load(site)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	page := string(h.index.body)
	for _, fill := range []struct{ tag, value string }{
		{metaAPIOrigins, strings.Join(origins, ",")},
		{metaAgentServerURL, opts.AgentServerURL},
	} {
		if !strings.Contains(page, fill.tag) {
			return nil, fmt.Errorf("dashboard: web/index.html has no %s to fill in", fill.tag)
		}
		page = strings.Replace(page, fill.tag, strings.Replace(fill.tag, `content=""`, `content="`+html.EscapeString(fill.value)+`"`, 1), 1)
	}
	h.index = newAsset([]byte(page), h.index.contentType)
	h.csp = contentSecurityPolicy(origins)
	return h, nil
}

// Handler returns the dashboard with default options: the page calls the
// API at its own origin only.
func Handler() http.Handler {
	h, err := New(Options{})
	if err != nil {
		// The files are embedded at build time; failing here is a build defect.
		panic(err.Error())
	}
	return h
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
}

func load(fsys fs.FS) (*handler, error) {
	h := &handler{assets: map[string]asset{}}
	err := fs.WalkDir(fsys, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		h.assets[strings.TrimPrefix(p, "web/")] = newAsset(body, ct)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load embedded files: %w", err)
	}
	index, ok := h.assets["index.html"]
	if !ok {
		return nil, fmt.Errorf("load embedded files: web/index.html is missing")
	}
	h.index = index
	delete(h.assets, "index.html") // served at "/" only: its relative links assume that place
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path)
		return
	}
	var a asset
	switch p := r.URL.Path; {
	case p == "/" || p == "/index.html":
		a = h.index
		w.Header().Set("Content-Security-Policy", h.csp)
		w.Header().Set("Referrer-Policy", "no-referrer")
	case strings.HasPrefix(p, AssetPrefix):
		var ok bool
		if a, ok = h.assets[strings.TrimPrefix(p, AssetPrefix)]; !ok {
			writeError(w, http.StatusNotFound, "not_found", "no such dashboard file: "+p)
			return
		}
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such resource: "+p)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// writeError answers in the API's error shape.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(map[string]string{"code": code, "message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
