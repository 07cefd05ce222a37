package inventory

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical form, or the error's text must contain it after "error: "
	}{
		{"", ""},
		{"   ", ""},
		{"site=north", "site=north"},
		{"site==north", "site=north"},
		{"site!=north", "site!=north"},
		{"site", "site"},
		{"!site", "!site"},
		{"! site", "!site"},
		{" site = north , tier != gold , has-key , ! no-key ", "site=north,tier!=gold,has-key,!no-key"},
		{"site=", "site="},
		{"k8s.io/zone=a", "k8s.io/zone=a"},
		{"a=b=c", "a=b=c"},     // the first '=' is the operator
		{"a===b", "a===b"},     // "==", then the value "=b"
		{"a= =", "a==="},       // the value "=" needs "=="
		{"a!=!b", "a!=!b"},     // values may hold '!'
		{"a=Zoë 1", "a=Zoë 1"}, // and printable Unicode and inner spaces
		{",", "error: term 1 \"\": empty term"},
		{"a,", "error: term 2 \"\": empty term"},
		{"a,,b", "error: term 2 \"\": empty term"},
		{"=north", "error: term 1 \"=north\": key must have 1 to 63 characters"},
		{"!", "error: after '!': key must have"},
		{"!a=b", "error: after '!': key has a bad character '='"},
		{"a!b", "error: '!' must start the term or be followed by '='"},
		{"a b=c", "error: key has a bad character ' '"},
		{"a=" + strings.Repeat("v", 64), "error: value is longer than 63 bytes"},
		{"a=\x01", "error: value has a bad character"},
		{strings.Repeat("a,", 1100), "error: selector is longer than 2048 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			sel, err := ParseSelector(tt.in)
			if want, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
				fe, ok := errors.AsType[*FieldError](err)
				if !errors.Is(err, ErrInvalid) || !ok || fe.Field != "labels" || !strings.Contains(err.Error(), want) {
					t.Fatalf("ParseSelector(%q) = %v, want an ErrInvalid on labels containing %q", tt.in, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSelector(%q): %v", tt.in, err)
			}
			if got := sel.String(); got != tt.want {
				t.Errorf("ParseSelector(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if sel.Empty() != (tt.want == "") {
				t.Errorf("Empty() = %v", sel.Empty())
			}
		})
	}
}

func TestSelectorMatches(t *testing.T) {
	labels := map[string]string{"site": "north", "tier": "gold", "empty": ""}
	tests := []struct {
		sel  string
		want bool
	}{
		{"", true},
		{"site=north", true},
		{"site=south", false},
		{"site!=south", true},
		{"site!=north", false},
		{"absent!=x", true},
		{"tier", true},
		{"absent", false},
		{"!absent", true},
		{"!tier", false},
		{"empty=", true},
		{"empty", true},
		{"site=north,tier=gold", true},
		{"site=north,tier=silver", false},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.sel)
		if err != nil {
			t.Fatal(err)
		}
		if got := sel.Matches(labels); got != tt.want {
			t.Errorf("%q matches = %v, want %v", tt.sel, got, tt.want)
		}
	}
	var zero Selector
	if !zero.Matches(nil) {
		t.Error("the zero Selector does not match")
	}
}

// Any string either fails with ErrInvalid or parses to a selector whose
// canonical form parses back to itself.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"site=north,tier!=gold,has-key,!no-key", "a==b", "a=b=c", "!", ",", " a = b ", "a!=!b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseSelector(%q) = %v, not ErrInvalid", s, err)
			}
			return
		}
		again, err := ParseSelector(sel.String())
		if err != nil || again.String() != sel.String() {
			t.Fatalf("%q → %q → %q, %v", s, sel.String(), again.String(), err)
		}
		sel.Matches(map[string]string{"a": "b"})
	})
}

// Cursors are user input: any string is a cursor or ErrInvalid.
func FuzzCursor(f *testing.F) {
	p, _ := compile(Query{Sort: "-last_seen"})
	f.Add("-last_seen", p.encodeCursor(&Device{EndpointID: dev1}))
	f.Add("model", "eyJzIjoibW9kZWwiLCJpIjoieCJ9")
	f.Add("endpoint_id", "")
	f.Fuzz(func(t *testing.T, sort, cursor string) {
		p, err := compile(Query{Sort: sort, Cursor: cursor})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("compile = %v, not ErrInvalid", err)
			}
			return
		}
		if p.after != nil {
			// A decoded position encodes back to a cursor for the same sort.
			if _, err := compile(Query{Sort: sort, Cursor: p.encodeCursor(p.after)}); err != nil {
				t.Fatalf("re-encoded cursor: %v", err)
			}
		}
	})
}
