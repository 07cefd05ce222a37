package creds

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

func TestGeneratedToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := generateToken()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q: %d bytes, %v; want 32 base64url bytes", tok, len(raw), err)
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}
}

func TestTokenHash(t *testing.T) {
	tok, _ := generateToken()
	h, err := hashToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^hmac-sha256\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash %q has the wrong format", h)
	}
	if strings.Contains(h, tok) {
		t.Fatal("hash contains the token")
	}
	c := Credential{Hash: h}
	if !c.Verify(tok) {
		t.Error("token does not verify")
	}
	for _, wrong := range []string{"", tok[:len(tok)-1], tok + "x", strings.ToUpper(tok)} {
		if c.Verify(wrong) {
			t.Errorf("Verify(%q) = true", wrong)
		}
	}
	h2, _ := hashToken(tok)
	if h2 == h {
		t.Error("two hashes of one token are equal: the salt is not random")
	}
	if c.SecretKind() != "token" {
		t.Errorf("SecretKind = %q, want token", c.SecretKind())
	}
}

func TestPasswordHash(t *testing.T) {
	const pw = "correct horse battery"
	h, err := hashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash %q has the wrong format", h)
	}
	c := Credential{Hash: h}
	if !c.Verify(pw) {
		t.Error("password does not verify")
	}
	if c.Verify(pw+"!") || c.Verify("") {
		t.Error("a wrong password verifies")
	}
	if c.SecretKind() != "password" {
		t.Errorf("SecretKind = %q, want password", c.SecretKind())
	}
}

// The scheme comes from the stored hash: offering the hash's own pieces, or
// a hash of another scheme, must never verify.
func TestVerifyRejectsMalformedHashes(t *testing.T) {
	tok, _ := generateToken()
	th, _ := hashToken(tok)
	ph, _ := hashPassword("a chosen password")
	salt, sum, _ := strings.Cut(strings.TrimPrefix(th, hmacPrefix), "$")
	cases := map[string]string{
		"empty":              "",
		"unknown scheme":     "sha1$" + salt + "$" + sum,
		"plain secret":       tok,
		"missing sum":        hmacPrefix + salt,
		"short sum":          hmacPrefix + salt + "$" + sum[:20],
		"bad base64":         hmacPrefix + "!!$" + sum,
		"empty salt":         hmacPrefix + "$" + sum,
		"argon wrong v":      strings.Replace(ph, "v=19", "v=16", 1),
		"argon huge memory":  strings.Replace(ph, "m=19456", "m=99999999", 1),
		"argon zero time":    strings.Replace(ph, "t=2", "t=0", 1),
		"argon zero threads": strings.Replace(ph, "p=1", "p=0", 1),
		"argon params order": strings.Replace(ph, "m=19456,t=2", "t=2,m=19456", 1),
		"argon truncated":    ph[:strings.LastIndex(ph, "$")],
	}
	for name, h := range cases {
		c := Credential{Hash: h}
		if c.Verify(tok) || c.Verify("a chosen password") {
			t.Errorf("%s: Verify succeeded on hash %q", name, h)
		}
	}
}

func BenchmarkVerifyToken(b *testing.B) {
	tok, _ := generateToken()
	h, _ := hashToken(tok)
	c := Credential{Hash: h}
	b.ReportAllocs()
	for b.Loop() {
		if !c.Verify(tok) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	const pw = "correct horse battery"
	h, _ := hashPassword(pw)
	c := Credential{Hash: h}
	b.ReportAllocs()
	for b.Loop() {
		if !c.Verify(pw) {
			b.Fatal("no match")
		}
	}
}
