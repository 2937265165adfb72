package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
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
// and call any API origin (the API may live on another host).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src *; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"

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
	assets map[string]asset // by path under web/, e.g. "js/main.js"
}

// Handler returns the handler of the dashboard: GET or HEAD of "/" (and
// "/index.html") answers the page, of AssetPrefix+name the asset name;
// anything else is 404, and other methods are 405. Responses carry an ETag
// and Cache-Control: no-cache, so browsers revalidate cheaply and never run
// a stale script after a deploy.
func Handler() http.Handler {
	h, err := load(site)
	if err != nil {
		// The files are embedded at build time; failing here is a build defect.
		panic(fmt.Sprintf("dashboard: %v", err))
	}
	return h
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
		sum := sha256.Sum256(body)
		a := asset{body: body, contentType: ct, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		h.assets[strings.TrimPrefix(p, "web/")] = a
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
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
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
