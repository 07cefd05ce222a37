package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
)

// driver runs the steps in one browser tab.
type driver struct {
	t      *testing.T
	ctx    context.Context
	shots  string
	failed bool
}

// step runs f within timeout and saves a screenshot named name, also when
// f fails. After a failed step the later ones are skipped: they build on it.
func (b *driver) step(name string, timeout time.Duration, f func(ctx context.Context) error) {
	b.t.Helper()
	if b.failed {
		b.t.Errorf("%s: skipped after an earlier step failed", name)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	start := time.Now()
	err := f(ctx)
	b.screenshot(name)
	if err != nil {
		b.failed = true
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Errorf("%s: %v (after %s, at %s)", name, err, time.Since(start).Round(time.Millisecond), loc)
		return
	}
	b.t.Logf("%s: passed in %s", name, time.Since(start).Round(time.Millisecond))
}

func (b *driver) screenshot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("screenshot: %v", err)
	}
}

// waitFor polls a JavaScript expression in the page until it is truthy.
func (b *driver) waitFor(expr string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", expr, err)
		}
		return nil
	})
}

// consoleLog collects the page's console errors and uncaught exceptions.
type consoleLog struct {
	mu   sync.Mutex // guards errs
	errs []string
}

func (c *consoleLog) watch(ctx context.Context, t *testing.T) {
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				c.mu.Lock()
				c.errs = append(c.errs, fmt.Sprintf("%s: %s %s:%d", m.Type, m.Text, m.URL, m.Line))
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the console watcher did not stop")
		}
	})
}

// errors are the page's errors, less the failed requests the console
// turns into messages itself (such as a refused Set, a 422).
func (c *consoleLog) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.errs {
		if strings.Contains(e, "Failed to load resource") {
			continue
		}
		out = append(out, e)
	}
	return out
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// upProcess is a running `cuttle up`.
type upProcess struct {
	url   string // the console, http://127.0.0.1:port
	token string // the bootstrap admin token
	data  string // its data directory
}

// startUp builds cuttle and runs `cuttle up --demo n` on free ports in its
// own process group, which cleanup ends.
func startUp(t *testing.T, n int) *upProcess {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "cuttle")
	bctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(bctx, "go", "build", "-o", bin, "../cmd/cuttle")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "up", "--demo", fmt.Sprint(n), "--data", data,
		"--nats-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0",
		"--broker-http-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			select {
			case lines <- s.Text():
			default: // nobody reads after startup
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Errorf("cuttle up did not stop within 15 s of SIGTERM; killing it")
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("cuttle up stderr:\n%s", tail(stderr.String(), 4000))
		}
	})

	consoleRE := regexp.MustCompile(`console:\s+(http://\S+?)/?\s`)
	deadline := time.After(60 * time.Second)
	var url string
	for url == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("cuttle up exited before it was up:\n%s", tail(stderr.String(), 4000))
			}
			if m := consoleRE.FindStringSubmatch(l + " "); m != nil {
				url = m[1]
			}
		case <-deadline:
			t.Fatalf("cuttle up printed no console URL within 60 s:\n%s", tail(stderr.String(), 4000))
		}
	}
	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return &upProcess{url: url, token: strings.TrimSpace(string(token)), data: data}
}

// credential reads a broker credential from the credentials bucket in
// NATS KV, where the brokers read it too, with the address and password
// that `cuttle up` keeps in <data>/nats.json.
func (u *upProcess) credential(ctx context.Context, username string) (creds.Credential, error) {
	b, err := os.ReadFile(filepath.Join(u.data, "nats.json"))
	if err != nil {
		return creds.Credential{}, err
	}
	var local struct{ URL, User, Password string }
	if err := json.Unmarshal(b, &local); err != nil {
		return creds.Credential{}, fmt.Errorf("reading nats.json: %w", err)
	}
	nc, err := nats.Connect(local.URL, nats.UserInfo(local.User, local.Password), nats.Timeout(10*time.Second))
	if err != nil {
		return creds.Credential{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return creds.Credential{}, err
	}
	store, err := creds.OpenStore(ctx, creds.StoreConfig{JetStream: js})
	if err != nil {
		return creds.Credential{}, err
	}
	return store.Get(ctx, username)
}

// syncBuffer is a bytes.Buffer that the process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// apiClient calls the REST API directly, to check what the console shows
// and to cause traffic.
type apiClient struct {
	base, token string
}

func (c *apiClient) do(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// contrastJS lists the visible text on the page whose colour does not
// contrast enough with its background: WCAG AA, 4.5:1, or 3:1 for large
// text (24 px, or 18.66 px bold). Disabled controls are exempt, as in WCAG.
const contrastJS = `(() => {
	const rgb = (c) => { const m = c.match(/[\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; };
	const lum = ([r, g, b]) => {
		const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
		return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
	};
	const background = (el) => {
		for (let e = el; e; e = e.parentElement) {
			const c = rgb(getComputedStyle(e).backgroundColor);
			if ((c[3] ?? 1) > 0.5) return c;
		}
		return rgb(getComputedStyle(document.documentElement).backgroundColor);
	};
	const bad = [];
	const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	for (let n = walker.nextNode(); n; n = walker.nextNode()) {
		const el = n.parentElement;
		if (!n.textContent.trim() || !el || el.closest('[hidden], [disabled], dialog:not([open])') || !el.getClientRects().length) continue;
		const s = getComputedStyle(el);
		if (s.visibility === 'hidden' || Number(s.opacity) < 0.5) continue;
		const [l1, l2] = [lum(rgb(s.color)), lum(background(el))].sort((a, b) => b - a);
		const ratio = (l1 + 0.05) / (l2 + 0.05);
		const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
		const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
		if (ratio < need) bad.push(n.textContent.trim().slice(0, 40) + ' (' + ratio.toFixed(2) + ':1, ' + s.color + ')');
	}
	return [...new Set(bad)].slice(0, 10);
})()`
