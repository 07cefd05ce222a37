package auth

import (
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
)

// memStore is a Store with one viewer token and no NATS behind it, enough
// for Authenticate, which never does I/O.
func memStore(t testing.TB) (*Store, string) {
	t.Helper()
	s := &Store{
		log:        slog.New(slog.DiscardHandler),
		now:        func() time.Time { return time.Now().UTC() },
		touchEvery: lastUsedEvery,
		tokens:     map[string]entry{},
		queued:     map[string]time.Time{},
		pending:    map[string]time.Time{},
		touchCh:    make(chan struct{}, 1),
	}
	id, secret, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	h, err := hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	s.applyRecord(record{Token: Token{ID: id, Name: "mem", Role: RoleViewer}, Hash: h}, 1)
	return s, secret
}

var tokenShape = regexp.MustCompile(`^cut_[a-z2-7]{16}_[a-z2-7]{52}$`)

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, secret, err := newSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !tokenShape.MatchString(secret) || len(secret) != tokenLen {
			t.Fatalf("token %q does not have the documented shape", secret)
		}
		if got, ok := parseToken(secret); !ok || got != id {
			t.Fatalf("parseToken(%q) = %q, %v; want %q", secret, got, ok, id)
		}
		if seen[secret] {
			t.Fatalf("token %q generated twice", secret)
		}
		seen[secret] = true
	}
}

func TestParseTokenMalformed(t *testing.T) {
	_, good, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"prefix only", "cut_"},
		{"short", good[:len(good)-1]},
		{"long", good + "a"},
		{"wrong prefix", "cat_" + good[4:]},
		{"upper case", strings.ToUpper(good)},
		{"no separator", good[:20] + "-" + good[21:]},
		{"bad id character", good[:5] + "1" + good[6:]},
		{"bad secret character", good[:30] + "8" + good[31:]},
		{"non-ASCII", good[:len(good)-2] + "é"},
		{"space", good[:30] + " " + good[31:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if id, ok := parseToken(tt.token); ok {
				t.Fatalf("parseToken(%q) accepted it, ID %q", tt.token, id)
			}
		})
	}
}

// FuzzAuthenticate checks that no input panics, and that nothing but the
// one secret authenticates.
func FuzzAuthenticate(f *testing.F) {
	s, secret := memStore(f)
	for _, seed := range []string{"", "cut_", "cut__", secret, secret[:20], secret[:len(secret)-1] + "a", "Bearer " + secret, strings.Repeat("\xff", tokenLen)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tok, err := s.Authenticate(in)
		if in == secret {
			if err != nil || tok.Name != "mem" {
				t.Fatalf("the real secret failed: %v", err)
			}
			return
		}
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Authenticate(%q) = %+v, %v; want ErrUnauthorized", in, tok, err)
		}
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	s, secret := memStore(b)
	for b.Loop() {
		if _, err := s.Authenticate(secret); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRecordValidate(t *testing.T) {
	id, secret, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	h, err := hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	good := record{Token: Token{ID: id, Name: "ci", Role: RoleOperator}, Hash: h}
	if err := good.validate(); err != nil {
		t.Fatalf("good record: %v", err)
	}
	tests := []struct {
		name   string
		change func(*record)
	}{
		{"bad id", func(r *record) { r.ID = "x" }},
		{"bad role", func(r *record) { r.Role = "root" }},
		{"empty name", func(r *record) { r.Name = "" }},
		{"control in name", func(r *record) { r.Name = "a\nb" }},
		{"unknown scheme", func(r *record) { r.Hash = "md5$x$y" }},
		{"short mac", func(r *record) { r.Hash = hashPrefix + "AAAA$AAAA" }},
		{"no salt", func(r *record) { r.Hash = hashPrefix + "$" + strings.Repeat("A", 43) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.change(&r)
			if err := r.validate(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("validate = %v, want ErrInvalid", err)
			}
		})
	}
}
