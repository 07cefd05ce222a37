package creds

import (
	"fmt"
)

const hexDigits = "0123456789ABCDEF"

// keptInKey reports whether b is written as itself in a KV key. Everything
// else, including '=', '.' and '/', is escaped: '.' separates subject tokens
// and may not start or end a key, and '=' is the escape character.
func keptInKey(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_'
}

// EncodeKey turns any username into a valid NATS KV key. Letters, digits,
// '-' and '_' are kept, so keys stay readable in `nats kv ls`; every other
// byte becomes '=' and two upper-case hex digits. For example the USP
// endpoint ID "os::012345-0001" becomes "os=3A=3A012345-0001".
func EncodeKey(username string) string {
	n := 0
	for i := 0; i < len(username); i++ {
		if !keptInKey(username[i]) {
			n++
		}
	}
	if n == 0 {
		return username
	}
	buf := make([]byte, 0, len(username)+2*n)
	for i := 0; i < len(username); i++ {
		b := username[i]
		if keptInKey(b) {
			buf = append(buf, b)
			continue
		}
		buf = append(buf, '=', hexDigits[b>>4], hexDigits[b&0x0f])
	}
	return string(buf)
}

// DecodeKey reverses EncodeKey. It accepts only keys EncodeKey produces, so
// two different keys never decode to the same username: a lower-case or
// unnecessary escape is an error, not an alias.
func DecodeKey(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("%w: empty key", ErrInvalid)
	}
	buf := make([]byte, 0, len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		if keptInKey(c) {
			buf = append(buf, c)
			continue
		}
		if c != '=' || i+2 >= len(key) {
			return "", fmt.Errorf("%w: key %q: bad character or escape at %d", ErrInvalid, key, i)
		}
		hi, lo := unhex(key[i+1]), unhex(key[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: key %q: bad escape at %d", ErrInvalid, key, i)
		}
		b := byte(hi<<4 | lo)
		if keptInKey(b) {
			return "", fmt.Errorf("%w: key %q: needless escape at %d", ErrInvalid, key, i)
		}
		buf = append(buf, b)
		i += 2
	}
	return string(buf), nil
}

// unhex decodes an upper-case hex digit, or returns -1.
func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
