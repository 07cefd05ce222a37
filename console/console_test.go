package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T, c *Console, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, req)
	return w.Result()
}

func newConsole(t *testing.T) *Console {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServe(t *testing.T) {
	c := newConsole(t)
	v := c.Version()
	tests := []struct {
		target, status, ctype, cache string
	}{
		{"/", "200", "text/html; charset=utf-8", "no-cache"},
		{"/index.html", "200", "text/html; charset=utf-8", "no-cache"},
		{"/devices", "200", "text/html; charset=utf-8", "no-cache"},
		{"/device/os::012345-0001/explorer", "200", "text/html; charset=utf-8", "no-cache"},
		{"/assets/" + v + "/app.js", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/assets/" + v + "/pages/explorer.js", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/assets/" + v + "/style.css", "200", "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/assets/" + v + "/icon.svg", "200", "image/svg+xml", "public, max-age=31536000, immutable"},
		{"/assets/0123456789ab/app.js", "200", "text/javascript; charset=utf-8", "no-cache"},
		{"/assets/" + v + "/nope.js", "404", "text/plain; charset=utf-8", ""},
		{"/assets/" + v + "/index.html", "404", "text/plain; charset=utf-8", ""},
		{"/assets/app.js", "404", "text/plain; charset=utf-8", ""},
		{"/favicon.ico", "404", "text/plain; charset=utf-8", ""},
		{"/wp-login.php", "404", "text/plain; charset=utf-8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			resp := serve(t, c, "GET", tt.target, nil)
			if got := resp.Status[:3]; got != tt.status {
				t.Fatalf("status %s, want %s", resp.Status, tt.status)
			}
			h := resp.Header
			if h.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", h.Get("Content-Type"), tt.ctype)
			}
			if h.Get("Cache-Control") != tt.cache {
				t.Errorf("Cache-Control %q, want %q", h.Get("Cache-Control"), tt.cache)
			}
			if h.Get("Content-Security-Policy") != ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q", h.Get("Content-Security-Policy"))
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("nosniff %q, frame options %q", h.Get("X-Content-Type-Options"), h.Get("X-Frame-Options"))
			}
		})
	}
}

// TestCSP checks the policy allows nothing inline and nothing from elsewhere.
func TestCSP(t *testing.T) {
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, want) {
			t.Errorf("policy lacks %q", want)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe") || strings.Contains(ContentSecurityPolicy, "http") {
		t.Errorf("policy allows too much: %s", ContentSecurityPolicy)
	}
}

func TestIndex(t *testing.T) {
	c := newConsole(t)
	resp := serve(t, c, "GET", "/", nil)
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	if strings.Contains(page, "{{VERSION}}") || !strings.Contains(page, `src="/assets/`+c.Version()+`/app.js"`) {
		t.Fatalf("index does not name the versioned app.js:\n%s", page)
	}
	// No inline script or style, which the policy would block anyway.
	if regexp.MustCompile(`<script(?:\s+type="module")?>|<style|\sstyle="|\son[a-z]+="`).MatchString(page) {
		t.Errorf("index has inline script, style or handler:\n%s", page)
	}

	etag := resp.Header.Get("ETag")
	again := serve(t, c, "GET", "/", http.Header{"If-None-Match": {etag}})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with %s: %s", etag, again.Status)
	}
	head := serve(t, c, "HEAD", "/assets/"+c.Version()+"/app.js", nil)
	if b, _ := io.ReadAll(head.Body); head.StatusCode != 200 || len(b) != 0 || head.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD: %s, %d bytes, length %q", head.Status, len(b), head.Header.Get("Content-Length"))
	}
	if post := serve(t, c, "POST", "/", nil); post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", post.Status)
	}
}

// TestAssets checks that the modules import only files that exist, and
// that nothing refers to another origin.
func TestAssets(t *testing.T) {
	c := newConsole(t)
	importRE := regexp.MustCompile(`(?:from|import)\s*\(?\s*'(\.[^']+)'`)
	external := regexp.MustCompile(`(?i)(?:src|href|url\()\s*=?\s*["']?(?:https?:)?//`)
	for name, a := range c.assets {
		text := string(a.body)
		if external.MatchString(text) {
			t.Errorf("%s refers to another origin: %s", name, external.FindString(text))
		}
		if path.Ext(name) != ".js" {
			continue
		}
		for _, m := range importRE.FindAllStringSubmatch(text, -1) {
			target := path.Join(path.Dir(name), m[1])
			if _, ok := c.assets[target]; !ok {
				t.Errorf("%s imports %s, which is not embedded", name, m[1])
			}
		}
	}
}

func TestGzip(t *testing.T) {
	c := newConsole(t)
	target := "/assets/" + c.Version() + "/pages/explorer.js"
	plain := serve(t, c, "GET", target, nil)
	plainBody, _ := io.ReadAll(plain.Body)
	tests := []struct {
		accept string
		gzip   bool
	}{
		{"gzip, deflate, br", true},
		{"br;q=1.0, GZIP;q=0.5", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"", false},
	}
	for _, tt := range tests {
		resp := serve(t, c, "GET", target, http.Header{"Accept-Encoding": {tt.accept}})
		body, _ := io.ReadAll(resp.Body)
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tt.gzip {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", tt.accept, got, tt.gzip)
			continue
		}
		if resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q", tt.accept, resp.Header.Get("Vary"))
		}
		if !tt.gzip {
			if !bytes.Equal(body, plainBody) || resp.Header.Get("ETag") != plain.Header.Get("ETag") {
				t.Errorf("Accept-Encoding %q: not the plain file", tt.accept)
			}
			continue
		}
		if resp.Header.Get("ETag") == plain.Header.Get("ETag") || len(body) >= len(plainBody) {
			t.Errorf("gzip: ETag %s (plain %s), %d bytes (plain %d)", resp.Header.Get("ETag"), plain.Header.Get("ETag"), len(body), len(plainBody))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(unzipped, plainBody) {
			t.Errorf("gzip body does not unzip to the file: %v", err)
		}
	}
}

// BenchmarkServe serves the biggest module, gzipped, as browsers ask for it.
func BenchmarkServe(b *testing.B) {
	c, err := New()
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/assets/"+c.Version()+"/pages/explorer.js", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
