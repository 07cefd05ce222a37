package tr181

import (
	"testing"

	"cuttle/usp/usperr"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		param *Param
		in    string
		out   string
		code  usperr.Code
	}{
		{"bool true", Bool("B"), "true", "true", 0},
		{"bool 1", Bool("B"), "1", "true", 0},
		{"bool 0", Bool("B"), "0", "false", 0},
		{"bool word", Bool("B"), "True", "", usperr.InvalidType},
		{"int", Int("I"), "-12", "-12", 0},
		{"int leading +", Int("I"), "+7", "7", 0},
		{"int word", Int("I"), "abc", "", usperr.InvalidType},
		{"int decimal", Int("I"), "1.5", "", usperr.InvalidType},
		{"int too big", Int("I"), "2147483648", "", usperr.InvalidValue},
		{"int range", Int("I", Range(-1, 100)), "101", "", usperr.InvalidValue},
		{"int in range", Int("I", Range(-1, 100)), "-1", "-1", 0},
		{"uint negative", UInt("U"), "-1", "", usperr.InvalidValue},
		{"uint word", UInt("U"), "x", "", usperr.InvalidType},
		{"uint range", UInt("U", Range(1000, 65535)), "999", "", usperr.InvalidValue},
		{"uint max", UInt("U"), "4294967295", "4294967295", 0},
		{"uint too big", UInt("U"), "4294967296", "", usperr.InvalidValue},
		{"ulong", ULong("U"), "18446744073709551615", "18446744073709551615", 0},
		{"long", Long("L"), "-9223372036854775808", "-9223372036854775808", 0},
		{"decimal", Decimal("D"), "3.25", "3.25", 0},
		{"decimal word", Decimal("D"), "pi", "", usperr.InvalidType},
		{"dateTime", DateTime("T"), "2026-03-01T12:00:00Z", "2026-03-01T12:00:00Z", 0},
		{"dateTime unknown", DateTime("T"), UnknownTime, UnknownTime, 0},
		{"dateTime no zone", DateTime("T"), "2026-03-01T12:00:00", "", usperr.InvalidType},
		{"hexBinary", HexBinary("H"), "0A0b", "0a0b", 0},
		{"hexBinary odd", HexBinary("H"), "abc", "", usperr.InvalidType},
		{"base64", Base64("B"), "aGk=", "aGk=", 0},
		{"base64 bad", Base64("B"), "!!", "", usperr.InvalidType},
		{"enum", String("S", Enum("Up", "Down")), "Up", "Up", 0},
		{"enum case", String("S", Enum("Up", "Down")), "up", "", usperr.InvalidValue},
		{"max length", String("S", MaxLen(3)), "abcd", "", usperr.InvalidValue},
		{"list", String("S", List, Enum("a", "b", "n")), "a, n", "a,n", 0},
		{"list empty", String("S", List, Enum("a")), "", "", 0},
		{"list bad item", String("S", List, Enum("a", "b")), "a,c", "", usperr.InvalidValue},
		{"MAC", String("M", Form(MAC)), "00:11:22:aa:BB:cc", "00:11:22:aa:BB:cc", 0},
		{"MAC empty", String("M", Form(MAC)), "", "", 0},
		{"MAC dashes", String("M", Form(MAC)), "00-11-22-aa-bb-cc", "", usperr.InvalidValue},
		{"IPv4", String("A", Form(IPv4)), "192.168.1.1", "192.168.1.1", 0},
		{"IPv4 not v6", String("A", Form(IPv4)), "::1", "", usperr.InvalidValue},
		{"IP v6", String("A", Form(IP)), "fe80::1", "fe80::1", 0},
		{"IP bad", String("A", Form(IP)), "300.1.1.1", "", usperr.InvalidValue},
		{"OUI", String("O", Form(OUI)), "00D09E", "00D09E", 0},
		{"OUI lower", String("O", Form(OUI)), "00d09e", "", usperr.InvalidValue},
		{"reference", String("R", Form(ObjRef)), "Device.WiFi.SSID.1", "Device.WiFi.SSID.1", 0},
		{"reference elsewhere", String("R", Form(ObjRef)), "Other.X", "", usperr.InvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.param.Validate(tt.in)
			if got := usperr.CodeOf(err); err != nil && got != tt.code || err == nil && tt.code != 0 {
				t.Fatalf("Validate(%q) error %v, want code %v", tt.in, err, tt.code)
			}
			if err != nil {
				if e := usperr.As(err); e.Path != tt.param.Name {
					t.Errorf("error path %q, want the parameter name", e.Path)
				}
				return
			}
			if out != tt.out {
				t.Errorf("Validate(%q) = %q, want %q", tt.in, out, tt.out)
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"", "true", "-1", "4294967296", "00:11:22:33:44:55", "a,b", "2026-03-01T12:00:00Z"} {
		f.Add(s)
	}
	params := []*Param{Bool("B"), Int("I", Range(-5, 5)), UInt("U"), ULong("L"), DateTime("T"),
		String("S", List, Enum("a", "b")), String("M", Form(MAC)), String("P", Form(IP), MaxLen(20)), HexBinary("H")}
	f.Fuzz(func(t *testing.T, v string) {
		for _, p := range params {
			out, err := p.Validate(v)
			if err != nil {
				if c := usperr.CodeOf(err); c != usperr.InvalidType && c != usperr.InvalidValue {
					t.Fatalf("%s: code %v", p.Name, c)
				}
				continue
			}
			// A canonical value validates to itself.
			if again, err := p.Validate(out); err != nil || again != out {
				t.Fatalf("%s: %q → %q → %q, %v", p.Name, v, out, again, err)
			}
		}
	})
}
