package tr181

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

// Pattern is a simple form a string value must have.
type Pattern int

// The supported patterns. They are deliberately simpler than TR-181's
// regular expressions but accept exactly the canonical forms.
const (
	NoPattern Pattern = iota
	// MAC is a MAC address, "00:11:22:aa:bb:cc" (either case), or "".
	MAC
	// IPv4 is a dotted-quad IPv4 address, or "".
	IPv4
	// IP is an IPv4 or IPv6 address, or "".
	IP
	// OUI is six upper-case hexadecimal digits.
	OUI
	// ObjRef is a path to an object instance such as "Device.WiFi.SSID.1",
	// or "".
	ObjRef
)

// String returns the pattern's name.
func (p Pattern) String() string {
	switch p {
	case MAC:
		return "MAC address"
	case IPv4:
		return "IPv4 address"
	case IP:
		return "IP address"
	case OUI:
		return "OUI"
	case ObjRef:
		return "object reference"
	}
	return "any"
}

// Validate checks a value a Controller wants to write and returns it in
// canonical form (booleans as "true"/"false"). A value that cannot be read as
// the parameter's type fails with InvalidType (7011); one of the right type
// outside its enumeration, range, length or pattern fails with InvalidValue
// (7012). The error's Path is the parameter name.
func (p *Param) Validate(v string) (string, error) {
	switch p.Type {
	case usp.TypeBoolean:
		b, err := usp.ParseBool(v)
		if err != nil {
			return "", p.fail(usperr.InvalidType, "%q is not a boolean", v)
		}
		return strconv.FormatBool(b), nil
	case usp.TypeInt:
		return p.checkInt(v, 32)
	case usp.TypeLong:
		return p.checkInt(v, 64)
	case usp.TypeUnsignedInt:
		return p.checkUint(v, 32)
	case usp.TypeUnsignedLong:
		return p.checkUint(v, 64)
	case usp.TypeDecimal:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", p.fail(usperr.InvalidType, "%q is not a decimal", v)
		}
		return v, nil
	case usp.TypeDateTime:
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return "", p.fail(usperr.InvalidType, "%q is not an ISO 8601 date-time with time zone", v)
		}
		return v, nil
	case usp.TypeHexBinary:
		if _, err := hex.DecodeString(v); err != nil {
			return "", p.fail(usperr.InvalidType, "%q is not hexBinary", v)
		}
		return strings.ToLower(v), p.checkLen(v)
	case usp.TypeBase64:
		if _, err := base64.StdEncoding.DecodeString(v); err != nil {
			return "", p.fail(usperr.InvalidType, "%q is not base64", v)
		}
		return v, p.checkLen(v)
	}
	// Strings, and lists of strings.
	if err := p.checkLen(v); err != nil {
		return "", err
	}
	if !p.List {
		return v, p.checkItem(v)
	}
	if strings.TrimSpace(v) == "" {
		return "", nil
	}
	items := strings.Split(v, ",")
	for i, item := range items {
		items[i] = strings.TrimSpace(item)
		if err := p.checkItem(items[i]); err != nil {
			return "", err
		}
	}
	return strings.Join(items, ","), nil
}

func (p *Param) fail(code usperr.Code, format string, args ...any) error {
	return usperr.AtPath(code, p.Name, format, args...)
}

func (p *Param) checkInt(v string, bits int) (string, error) {
	n, err := strconv.ParseInt(v, 10, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return "", p.fail(usperr.InvalidValue, "%s is out of range", v)
		}
		return "", p.fail(usperr.InvalidType, "%q is not an integer", v)
	}
	if p.Range != nil && (n < p.Range.Min || n > p.Range.Max) {
		return "", p.fail(usperr.InvalidValue, "%d is outside [%d, %d]", n, p.Range.Min, p.Range.Max)
	}
	return strconv.FormatInt(n, 10), nil
}

func (p *Param) checkUint(v string, bits int) (string, error) {
	if strings.HasPrefix(v, "-") {
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			return "", p.fail(usperr.InvalidValue, "%s is negative", v)
		}
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return "", p.fail(usperr.InvalidValue, "%s is out of range", v)
		}
		return "", p.fail(usperr.InvalidType, "%q is not an unsigned integer", v)
	}
	if p.Range != nil && (p.Range.Min > 0 && n < uint64(p.Range.Min) || p.Range.Max >= 0 && n > uint64(p.Range.Max)) {
		return "", p.fail(usperr.InvalidValue, "%d is outside [%d, %d]", n, p.Range.Min, p.Range.Max)
	}
	return strconv.FormatUint(n, 10), nil
}

func (p *Param) checkLen(v string) error {
	if p.MaxLen > 0 && len(v) > p.MaxLen {
		return p.fail(usperr.InvalidValue, "value is %d bytes long; the maximum is %d", len(v), p.MaxLen)
	}
	return nil
}

func (p *Param) checkItem(v string) error {
	if len(p.Enum) > 0 {
		ok := false
		for _, e := range p.Enum {
			ok = ok || e == v
		}
		if !ok {
			return p.fail(usperr.InvalidValue, "%q is not one of %s", v, strings.Join(p.Enum, ", "))
		}
	}
	if !p.Pattern.matches(v) {
		return p.fail(usperr.InvalidValue, "%q is not a valid %s", v, p.Pattern)
	}
	return nil
}

func (pat Pattern) matches(v string) bool {
	switch pat {
	case MAC:
		return v == "" || isMAC(v)
	case IPv4:
		if v == "" {
			return true
		}
		a, err := netip.ParseAddr(v)
		return err == nil && a.Is4()
	case IP:
		if v == "" {
			return true
		}
		_, err := netip.ParseAddr(v)
		return err == nil
	case OUI:
		return len(v) == 6 && isHex(v) && strings.ToUpper(v) == v
	case ObjRef:
		return v == "" || strings.HasPrefix(v, "Device.")
	}
	return true
}

func isMAC(v string) bool {
	if len(v) != 17 {
		return false
	}
	for i := 0; i < 17; i++ {
		if i%3 == 2 {
			if v[i] != ':' {
				return false
			}
		} else if !isHex(v[i : i+1]) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}
