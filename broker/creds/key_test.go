package creds

import (
	"errors"
	"strings"
	"testing"
)

func TestEncodeKey(t *testing.T) {
	cases := []struct{ in, want string }{
		{"os::012345-0001", "os=3A=3A012345-0001"},
		{"plain_user-1", "plain_user-1"},
		{"a.b/c=d", "a=2Eb=2Fc=3Dd"},
		{".lead", "=2Elead"},
		{"trail.", "trail=2E"},
		{"sp ace*>", "sp=20ace=2A=3E"},
		{"ü", "=C3=BC"},
	}
	for _, c := range cases {
		got := EncodeKey(c.in)
		if got != c.want {
			t.Errorf("EncodeKey(%q) = %q, want %q", c.in, got, c.want)
		}
		back, err := DecodeKey(got)
		if err != nil || back != c.in {
			t.Errorf("DecodeKey(%q) = %q, %v; want %q", got, back, err, c.in)
		}
	}
}

func TestDecodeKeyRejectsAliases(t *testing.T) {
	for _, key := range []string{
		"",
		"os=3a=3a1", // lower-case hex
		"=41",       // 'A' needs no escape
		"abc=",      // truncated escape
		"abc=4",     // truncated escape
		"a.b",       // '.' is always escaped
		"a b",       // not a key character
		"=ZZ",       // not hex
		"os:x",      // ':' must be escaped
		"x=2g0",     // bad second digit
	} {
		if u, err := DecodeKey(key); !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeKey(%q) = %q, %v; want ErrInvalid", key, u, err)
		}
	}
}

// validKVKey mirrors NATS KV's key rule: [-/_=.a-zA-Z0-9]+ with no leading
// or trailing '.'.
func validKVKey(k string) bool {
	if k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(keptInKey(c) || c == '/' || c == '=' || c == '.') {
			return false
		}
	}
	return true
}

func FuzzKey(f *testing.F) {
	for _, s := range []string{"os::012345-0001", "a.b", "=", "==3A", "ü", "\x00", "os=3A=3A1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s != "" {
			k := EncodeKey(s)
			if !validKVKey(k) {
				t.Fatalf("EncodeKey(%q) = %q is not a valid KV key", s, k)
			}
			if back, err := DecodeKey(k); err != nil || back != s {
				t.Fatalf("round trip of %q: %q, %v", s, back, err)
			}
		}
		// Any key that decodes must be the one encoding of its username.
		if u, err := DecodeKey(s); err == nil && EncodeKey(u) != s {
			t.Fatalf("DecodeKey(%q) = %q, which encodes to %q", s, u, EncodeKey(u))
		}
	})
}
