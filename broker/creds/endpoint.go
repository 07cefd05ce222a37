package creds

import (
	"fmt"
	"strings"
)

// MaxInstanceIDLen is the longest instance-id a USP endpoint ID may have
// (TR-369 R-ARC.6).
const MaxInstanceIDLen = 50

// authority describes what one authority scheme allows before the second
// ':' of an endpoint ID.
type authority struct {
	lengths []int // allowed lengths of the authority-id; nil means maxLen applies
	maxLen  int
	hex     bool // authority-id is hex digits (an IEEE OUI or CID)
	decimal bool // authority-id is decimal digits (an IANA PEN), at least one
	noDot   bool
}

// authorities lists TR-369's authority schemes (section 6 of
// ../shared/USP-FACTS.md). Schemes whose authority is implied by the
// instance-id (os, ops, uuid, imei, fqdn) must leave it empty.
var authorities = map[string]authority{
	"oui":   {lengths: []int{6, 7, 9}, hex: true},
	"cid":   {lengths: []int{6}, hex: true},
	"pen":   {decimal: true, maxLen: 10},
	"self":  {maxLen: 6},
	"user":  {maxLen: 6},
	"proto": {maxLen: 6, noDot: true},
	"doc":   {maxLen: 6},
	"os":    {},
	"ops":   {},
	"uuid":  {},
	"imei":  {},
	"fqdn":  {},
}

// ValidEndpointID checks that id has the USP form
// authority-scheme ":" [authority-id] ":" instance-id, with a known scheme,
// an authority-id that scheme allows, and an instance-id of at most 50
// characters from A-Z a-z 0-9 - . _ and %HH escapes. Endpoint IDs become MQTT
// topic levels and client IDs, so nothing else may slip in.
func ValidEndpointID(id string) error {
	scheme, rest, ok := strings.Cut(id, ":")
	if !ok {
		return fmt.Errorf("%w: endpoint ID %q: want scheme:authority:instance", ErrInvalid, id)
	}
	authID, instance, ok := strings.Cut(rest, ":")
	if !ok {
		return fmt.Errorf("%w: endpoint ID %q: want scheme:authority:instance", ErrInvalid, id)
	}
	a, known := authorities[scheme]
	if !known {
		return fmt.Errorf("%w: endpoint ID %q: unknown authority scheme %q", ErrInvalid, id, scheme)
	}
	if err := a.check(authID); err != nil {
		return fmt.Errorf("%w: endpoint ID %q: %s authority-id %q %s", ErrInvalid, id, scheme, authID, err)
	}
	if err := checkInstanceID(instance); err != nil {
		return fmt.Errorf("%w: endpoint ID %q: instance-id %s", ErrInvalid, id, err)
	}
	return nil
}

// check returns a phrase saying what is wrong with an authority-id.
func (a authority) check(s string) error {
	if a.lengths != nil {
		found := false
		for _, n := range a.lengths {
			found = found || len(s) == n
		}
		if !found {
			return fmt.Errorf("must have %v characters", a.lengths)
		}
	} else if len(s) > a.maxLen {
		if a.maxLen == 0 {
			return fmt.Errorf("must be empty")
		}
		return fmt.Errorf("must have at most %d characters", a.maxLen)
	}
	if a.decimal && s == "" {
		return fmt.Errorf("must not be empty")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case a.hex && !isHex(c):
			return fmt.Errorf("must be hex digits")
		case a.decimal && (c < '0' || c > '9'):
			return fmt.Errorf("must be decimal digits")
		case a.noDot && c == '.':
			return fmt.Errorf("must not contain '.'")
		case !isUnreserved(c):
			return fmt.Errorf("has a bad character %q", c)
		}
	}
	return nil
}

func checkInstanceID(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty")
	case len(s) > MaxInstanceIDLen:
		return fmt.Errorf("is longer than %d characters", MaxInstanceIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return fmt.Errorf("has a bad %%-escape at %d", i)
			}
			i += 2
			continue
		}
		if !isUnreserved(c) {
			return fmt.Errorf("has a bad character %q", c)
		}
	}
	return nil
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
