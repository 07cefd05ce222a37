package path

import (
	"errors"
	"testing"

	"cuttle/usp/usperr"
)

// garbage seeds inputs that are near misses of the grammar.
var garbage = []string{
	"", ".", "..", "Device", "Device..", "Device.[", "Device.X.[", "Device.X.[A", `Device.X.["`,
	"Device.X.[A==", `Device.X.[A=="x`, "Device.X.[A==1&&", "Device.X.{", "Device.X.{i",
	"Device.X.#", "Device.X+", "Device.X#*", "Device.X#1+.", "Device.X()", "Device.X!!",
	"Device.X.99999999999999999999.", "Device.X.[A==-]", "\x00", "Device.\xc3.", "Device.X.[A==\"\xff\"].",
	"Device.X.[A == 1 &&  B ~= \"%25%22%2\"].", "Device.X.[A<=2021-06-06T08:00:00Z].",
}

// checkError asserts that a parse failure is a 7026 *usperr.Error about in.
func checkError(t *testing.T, in string, err error) {
	t.Helper()
	var ue *usperr.Error
	if !errors.As(err, &ue) {
		t.Fatalf("%q: error %T %v is not a *usperr.Error", in, err, err)
	}
	if ue.Code != usperr.InvalidPath || ue.Msg == "" || ue.Path != in {
		t.Fatalf("%q: error %+v, want code 7026 with a message and the path", in, ue)
	}
}

func fuzzParser(f *testing.F, parse func(string) (*Path, error)) {
	for _, c := range parseCases {
		f.Add(c.in)
	}
	for _, g := range garbage {
		f.Add(g)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := parse(in)
		if err != nil {
			checkError(t, in, err)
			return
		}
		canon := p.String()
		again, err := parse(canon)
		if err != nil {
			t.Fatalf("%q parsed, but its canonical form %q does not: %v", in, canon, err)
		}
		if again.String() != canon || !again.Equal(p) {
			t.Fatalf("%q: canonical form %q reparses as %q", in, canon, again)
		}
		// The accessors must not panic on anything that parses.
		_ = p.Name()
		_ = p.Supported()
		_ = p.IsSearch()
		_ = p.IsInstance()
		if parent := p.Parent(); parent != nil {
			if _, err := parse(parent.String()); err != nil {
				t.Fatalf("%q: parent %q does not parse: %v", in, parent, err)
			}
		}
		if p.isConcrete() {
			// A concrete path falls under itself and under its supported form.
			if !p.Matches(p) {
				t.Fatalf("%q does not match itself", in)
			}
			sdm, err := ParseSupported(p.Supported())
			if err != nil {
				t.Fatalf("%q: supported form %q does not parse: %v", in, p.Supported(), err)
			}
			if !sdm.Matches(p) {
				t.Fatalf("%q does not match its supported form %q", in, sdm)
			}
		}
	})
}

func FuzzParse(f *testing.F) { fuzzParser(f, Parse) }

func FuzzParseSupported(f *testing.F) { fuzzParser(f, ParseSupported) }

func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		`[Name=="eth0"]`, `[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"]`, `[ A != "%22" && B.C#*+.D ~= 5 ]`,
		`[X>-1.5]`, `[X<=2021-06-06T08:00:00Z]`, `[X==true]`, `[]`, `[X==`, `[X=="`, `[X+==1]`,
	} {
		f.Add(s, "1")
	}
	f.Fuzz(func(t *testing.T, in, value string) {
		e, err := ParseExpr(in)
		if err != nil {
			checkError(t, in, err)
			return
		}
		again, err := ParseExpr(e.String())
		if err != nil {
			t.Fatalf("%q parsed, but its canonical form %q does not: %v", in, e, err)
		}
		if !again.Equal(e) {
			t.Fatalf("%q: canonical form %q reparses differently", in, e)
		}
		_ = e.IsUniqueKey()
		_ = e.Eval(func(string) (string, bool) { return value, true })
	})
}
