package events

import (
	"errors"
	"strings"
	"testing"

	"cuttle/broker/creds"
)

func TestEndpointToken(t *testing.T) {
	tests := []struct {
		id, want string
	}{
		{"os::012345-0001", "os=3A=3A012345-0001"},
		{"self::ctl_1", "self=3A=3Actl_1"},
		{"a.b", "a=2Eb"},
		{"a*b>c", "a=2Ab=3Ec"},
		{"with space\ttab", "with=20space=09tab"},
		{"=", "=3D"},
		{"é", "=C3=A9"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := EndpointToken(tt.id); got != tt.want {
				t.Errorf("EndpointToken(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}

// FuzzEndpointToken checks the property subjects rely on: any non-empty ID
// becomes one non-empty token of [A-Za-z0-9_=-], and decodes back to itself.
func FuzzEndpointToken(f *testing.F) {
	for _, s := range []string{dev1, dev3, ".", "*", ">", " ", "a.b.c", "\x00", "=41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if id == "" {
			return
		}
		tok := EndpointToken(id)
		if tok == "" {
			t.Fatalf("EndpointToken(%q) is empty", id)
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '=') {
				t.Fatalf("EndpointToken(%q) = %q has %q", id, tok, c)
			}
		}
		back, err := creds.DecodeKey(tok)
		if err != nil || back != id {
			t.Fatalf("DecodeKey(%q) = %q, %v; want %q", tok, back, err, id)
		}
	})
}

func TestValidType(t *testing.T) {
	tests := []struct {
		typ string
		ok  bool
	}{
		{TypeValueChange, true},
		{TypeOperationComplete, true},
		{"custom-Type_2", true},
		{"", false},
		{"a.b", false},
		{"*", false},
		{">", false},
		{"with space", false},
		{"é", false},
		{strings.Repeat("x", MaxTypeLen), true},
		{strings.Repeat("x", MaxTypeLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			err := ValidType(tt.typ)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidType(%q) = %v, want ok=%v", tt.typ, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}
