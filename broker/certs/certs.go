// Package certs gives the broker's TLS listeners their server certificate
// and client CA pool, reloaded from disk when the files change, and reads a
// client's identity from its verified certificate.
//
// Mosquitto has to restart to pick up a renewed certificate, dropping every
// client. A [Reloader] instead hands each new handshake the material
// current at that moment, through tls.Config.GetConfigForClient, so a
// renewal (a Let's Encrypt one, say) takes effect for the next connection
// while established connections carry on untouched.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Client authentication modes for Config.ClientAuth.
const (
	ClientAuthNone    = "none"
	ClientAuthRequest = "request" // verify a client certificate if one is sent
	ClientAuthRequire = "require" // refuse clients without a verified certificate
)

// DefaultPollInterval is how often Run checks the files by default.
const DefaultPollInterval = 5 * time.Second

// Errors returned, wrapped, by New and Reload.
var (
	ErrInvalidConfig  = errors.New("certs: invalid config")
	ErrNoCertificate  = errors.New("no PEM certificate found")
	ErrNoPrivateKey   = errors.New("no PEM private key found")
	ErrEncryptedKey   = errors.New("encrypted private keys are not supported")
	ErrKeyMismatch    = errors.New("private key does not match the certificate")
	ErrUnsupportedKey = errors.New("unsupported or malformed private key")
)

// Config says where the TLS material is and how clients authenticate.
type Config struct {
	// CertFile holds the server certificate, then any intermediates (PEM).
	CertFile string `yaml:"cert_file"`
	// KeyFile holds the server's private key (PEM: PKCS #8, PKCS #1 or
	// SEC 1). It may be the same file as CertFile.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile is the CA bundle client certificates are verified
	// against (mTLS); "" means the listener takes no client certificates.
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is ClientAuthNone, ClientAuthRequest or ClientAuthRequire.
	// It defaults to none without a ClientCAFile and to require with one.
	ClientAuth string `yaml:"client_auth"`
	// MinVersion is tls.VersionTLS12 (the default, the least USP allows:
	// R-MQTT.48) or tls.VersionTLS13. It has no YAML name because the
	// constant's number means nothing to an operator.
	MinVersion uint16 `yaml:"-"`
	// PollInterval is how often Run looks for changed files (5s). A change
	// is loaded once the files have held still for one interval, so it
	// takes effect within two.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Logger receives reloads and failures; nil discards them.
	Logger *slog.Logger `yaml:"-"`
}

// withDefaults validates c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.CertFile == "" {
		return bad("CertFile is required")
	}
	if c.KeyFile == "" {
		return bad("KeyFile is required")
	}
	switch c.ClientAuth {
	case "":
		c.ClientAuth = ClientAuthNone
		if c.ClientCAFile != "" {
			c.ClientAuth = ClientAuthRequire
		}
	case ClientAuthNone:
		if c.ClientCAFile != "" {
			// Almost certainly a mistake that would silently turn mTLS off.
			return bad("ClientAuth is %q but ClientCAFile is set", c.ClientAuth)
		}
	case ClientAuthRequest, ClientAuthRequire:
		if c.ClientCAFile == "" {
			return bad("ClientAuth %q needs a ClientCAFile to verify against", c.ClientAuth)
		}
	default:
		return bad("ClientAuth %q is not one of none, request, require", c.ClientAuth)
	}
	switch c.MinVersion {
	case 0:
		c.MinVersion = tls.VersionTLS12
	case tls.VersionTLS12, tls.VersionTLS13:
	default:
		return bad("MinVersion %s is below TLS 1.2 or unknown", tls.VersionName(c.MinVersion))
	}
	if c.PollInterval < 0 {
		return bad("PollInterval must not be negative")
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Reloader holds the current TLS material and replaces it when the files
// change. It is safe for concurrent use.
type Reloader struct {
	cfg        Config
	log        *slog.Logger
	clientAuth tls.ClientAuthType

	cur     atomic.Pointer[material] // read on every handshake, so lock-free
	reloads atomic.Uint64

	mu sync.Mutex // serializes loads, and guards seen and pending
	// seen is the state of the files at the last load attempt, successful
	// or not, so that Run neither reloads unchanged files nor retries
	// broken ones until they change again.
	seen fileStats
	// pending is a changed state Run saw once and waits to see again before
	// loading, so it does not read a certificate and key halfway through a
	// renewal that writes them one after the other.
	pending *fileStats
}

// New loads the files named by cfg and returns a Reloader serving them. An
// error names the file and the problem; a server certificate that has
// expired or is not yet valid is only logged as a warning, since refusing
// to start would not make it any more valid.
func New(cfg Config) (*Reloader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Reloader{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "certs"),
		clientAuth: clientAuthType(cfg.ClientAuth),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = r.stat()
	m, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cur.Store(m)
	r.log.Info("TLS certificates loaded", m.logAttrs(r.cfg)...)
	return r, nil
}

func clientAuthType(mode string) tls.ClientAuthType {
	switch mode {
	case ClientAuthRequest:
		return tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		return tls.RequireAndVerifyClientCert
	}
	return tls.NoClientCert
}

// TLSConfig returns a config for a listener. Its GetConfigForClient gives
// every handshake a copy of it holding the certificate and client CA pool
// current at that moment, so connections accepted after a reload use the
// new files while established ones are untouched.
//
// The caller may set other fields (NextProtos, CipherSuites) before using
// the config; as with any tls.Config, not after.
func (r *Reloader) TLSConfig() *tls.Config {
	base := &tls.Config{MinVersion: r.cfg.MinVersion, ClientAuth: r.clientAuth}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := r.cur.Load()
		c := base.Clone()
		c.GetConfigForClient = nil
		c.Certificates = []tls.Certificate{*m.cert}
		c.ClientCAs = m.pool
		return c, nil
	}
	return base
}

// Current returns the certificate and client CA pool in use; the pool is
// nil without a ClientCAFile. Neither may be modified.
func (r *Reloader) Current() (*tls.Certificate, *x509.CertPool) {
	m := r.cur.Load()
	return m.cert, m.pool
}

// Reloads returns how many times new material has been installed since New.
func (r *Reloader) Reloads() uint64 { return r.reloads.Load() }

// Reload reads the files now and installs them. On error the previous
// material stays in use and the error is returned.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen, r.pending = r.stat(), nil
	m, err := r.load()
	if err != nil {
		return err
	}
	r.install(m)
	return nil
}

// Run checks the files every PollInterval and reloads them when their
// content has changed, until ctx ends; then it returns nil. A failed reload
// is logged and the previous material kept; Run tries again once the files
// change again.
func (r *Reloader) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.poll()
		}
	}
}

// poll is one step of Run. A change is acted on once the files have held
// still for one interval; the content hash then tells a real change from a
// file merely rewritten or touched.
func (r *Reloader) poll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stat()
	if st.equal(r.seen) {
		r.pending = nil
		return
	}
	if r.pending == nil || !st.equal(*r.pending) {
		r.pending = &st
		return
	}
	r.seen, r.pending = st, nil
	m, err := r.load()
	if err != nil {
		r.log.Error("TLS certificate reload failed; keeping the previous certificates", "err", err)
		return
	}
	if m.hash == r.cur.Load().hash {
		r.log.Debug("TLS files rewritten with unchanged content")
		return
	}
	r.install(m)
}

// install makes m current. Callers hold r.mu.
func (r *Reloader) install(m *material) {
	r.cur.Store(m)
	r.reloads.Add(1)
	r.log.Info("TLS certificates reloaded", m.logAttrs(r.cfg)...)
}

// fileStats is what poll compares between ticks: the cert, key and CA
// files' stat results, nil where a file is unset or could not be read.
type fileStats [3]os.FileInfo

func (r *Reloader) stat() fileStats {
	var st fileStats
	for i, name := range []string{r.cfg.CertFile, r.cfg.KeyFile, r.cfg.ClientCAFile} {
		if name == "" {
			continue
		}
		if fi, err := os.Stat(name); err == nil {
			st[i] = fi
		}
	}
	return st
}

// equal compares identity as well as mtime and size: a renewed certificate
// from the same CA often has exactly the old one's size, and tools that
// preserve mtimes exist, but a rename always brings a new inode.
func (s fileStats) equal(o fileStats) bool {
	for i := range s {
		a, b := s[i], o[i]
		if (a == nil) != (b == nil) {
			return false
		}
		if a != nil && (!os.SameFile(a, b) || !a.ModTime().Equal(b.ModTime()) || a.Size() != b.Size()) {
			return false
		}
	}
	return true
}
