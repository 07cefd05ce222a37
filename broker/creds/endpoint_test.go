package creds

import (
	"errors"
	"strings"
	"testing"
)

func TestValidEndpointID(t *testing.T) {
	good := []string{
		"os::012345-0001",
		"os::00256D-0123456789",
		"ops::00256D-STB-0123456789",
		"oui:00256D:my-unique-bbf-id-42",
		"oui:00256DA:x",
		"oui:00256DABC:x",
		"cid:3AA3F8:my-unique-usp-id-42",
		"pen:3561:my-unique-bbf-id-42",
		"self::my-Agent",
		"self:abc:my-Agent",
		"user::u1",
		"proto::my-Agent",
		"doc:ex:thing",
		"uuid::f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
		"imei::990000862471854",
		"fqdn::www.example.org",
		"self::a%20b",
		"self::" + strings.Repeat("x", 50),
	}
	for _, id := range good {
		if err := ValidEndpointID(id); err != nil {
			t.Errorf("ValidEndpointID(%q) = %v, want nil", id, err)
		}
	}
	bad := []string{
		"",
		"os",
		"os:012345-0001",
		"bogus::x",
		"OS::x",           // schemes are lower case
		"os:x:012345",     // os takes no authority
		"oui:00256:x",     // 5 hex digits
		"oui:00256G:x",    // not hex
		"cid:3AA3F8A:x",   // 7 digits
		"pen::x",          // PEN required
		"pen:35a:x",       // PEN is decimal
		"self:toolong1:x", // > 6 chars
		"proto:a.b:x",     // no '.' in proto authority
		"os::",            // empty instance
		"os::a:b",         // ':' in instance
		"os::a/b",         // '/' would split an MQTT topic
		"os::a+b",         // MQTT wildcard
		"os::a#",          // MQTT wildcard
		"os::a b",         // space
		"os::a%2",         // short escape
		"os::a%zz",        // bad escape
		"self::" + strings.Repeat("x", 51),
	}
	for _, id := range bad {
		if err := ValidEndpointID(id); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidEndpointID(%q) = %v, want ErrInvalid", id, err)
		}
	}
}

func FuzzValidEndpointID(f *testing.F) {
	for _, s := range []string{"os::012345-0001", "oui:00256D:x", "self::a%20b", "pen:1:x", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidEndpointID(id) != nil {
			return
		}
		// Whatever passes must be safe as one MQTT topic level.
		if strings.ContainsAny(id, "/+#\x00 ") || len(id) > 80 {
			t.Fatalf("accepted unsafe endpoint ID %q", id)
		}
	})
}
