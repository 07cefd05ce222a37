// Package console is Cuttle's web console: a single-page application of
// plain HTML, CSS and JavaScript modules, embedded in the binary and served
// by the controller at "/". The console holds no state of its own; it is a
// client of the REST API under /api/v1, authenticated with the operator's
// bearer token.
//
// Assets are served under /assets/<version>/, where version is a hash of
// every embedded file, so browsers may cache them for good; the index page
// that names the version is revalidated on every load (ETag). Every
// response carries a strict Content-Security-Policy: scripts, styles and
// connections come from the controller alone, and nothing runs inline.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"cuttle/controller/api"
)

//go:embed assets
var embedded embed.FS

// ContentSecurityPolicy is sent with every console response. The console
// loads its own modules and styles, talks to its own origin, and may not
// be framed.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// assetPrefix is where the versioned assets live.
const assetPrefix = "/assets/"

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	gzipped     []byte // body compressed, or nil when that saves little
	contentType string
	etag        string
}

// compress fills in a.gzipped for text worth compressing.
func (a *asset) compress() {
	if len(a.body) < 1024 || !strings.HasPrefix(a.contentType, "text/") && a.contentType != "image/svg+xml" {
		return
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(a.body)                                  // writes to memory do not fail
	_ = zw.Close()
	if buf.Len() < len(a.body)*9/10 {
		a.gzipped = buf.Bytes()
	}
}

// Console serves the web console. Create it with New.
type Console struct {
	version string           // hash of every asset, part of their URLs
	assets  map[string]asset // by name below assets/, e.g. "app.js"
	index   asset            // index.html with the version filled in
}

var _ http.Handler = (*Console)(nil)

// New reads the embedded assets.
func New() (*Console, error) {
	sub, err := fs.Sub(embedded, "assets")
	if err != nil {
		return nil, err
	}
	c := &Console{assets: map[string]asset{}}
	all := sha256.New()
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		ctype := contentTypes[path.Ext(name)]
		if ctype == "" {
			ctype = mime.TypeByExtension(path.Ext(name))
		}
		if ctype == "" {
			return fmt.Errorf("console: no content type for %s", name)
		}
		sum := sha256.Sum256(body)
		a := asset{body: body, contentType: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		a.compress()
		c.assets[name] = a
		fmt.Fprintf(all, "%s\x00%x\x00", name, sum)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: reading assets: %w", err)
	}
	c.version = hex.EncodeToString(all.Sum(nil)[:6])
	idx, ok := c.assets["index.html"]
	if !ok {
		return nil, fmt.Errorf("console: no index.html")
	}
	body := bytes.ReplaceAll(idx.body, []byte("{{VERSION}}"), []byte(c.version))
	c.index = asset{body: body, contentType: "text/html; charset=utf-8", etag: `"` + c.version + `"`}
	c.index.compress()
	delete(c.assets, "index.html")
	return c, nil
}

// contentTypes fixes the types of the console's own files: a host's
// /etc/mime.types, which Go's mime package reads, may call JavaScript
// application/javascript or text/plain, and module scripts must be
// served as JavaScript. A scratch container has no table at all.
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".html": "text/html; charset=utf-8",
	".json": "application/json",
	".png":  "image/png",
}

// Version is the hash in the assets' URLs.
func (c *Console) Version() string { return c.version }

// ServeHTTP serves the index page at "/" (and at client routes such as
// /devices, which the application turns into #/devices), the assets below
// /assets/<version>/, and 404 for anything else.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, assetPrefix); ok {
		version, name, ok := strings.Cut(rest, "/")
		a, found := c.assets[name]
		if !ok || !found {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if version == c.version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			// An index page from another replica or an older build: serve
			// what we have, but do not let it be cached under that name.
			h.Set("Cache-Control", "no-cache")
		}
		c.write(w, r, a)
		return
	}
	if p == "/" || p == "/index.html" || isClientRoute(p) {
		h.Set("Cache-Control", "no-cache")
		c.write(w, r, c.index)
		return
	}
	http.Error(w, "not found", http.StatusNotFound)
}

// isClientRoute reports whether p names one of the console's pages
// (/devices, /device/x, /jobs…) rather than a file.
func isClientRoute(p string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	switch first {
	case "dashboard", "devices", "device", "traffic", "jobs", "job", "credentials", "tokens", "signin":
		return true
	}
	return false
}

func (c *Console) write(w http.ResponseWriter, r *http.Request, a asset) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	body, etag := a.body, a.etag
	if a.gzipped != nil {
		h.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = a.gzipped, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip
// (and does not refuse it with q=0).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// Mount serves the console at "/" of the API's server.
func Mount(a *api.API) error {
	c, err := New()
	if err != nil {
		return err
	}
	return a.MountPublic("/", c)
}
