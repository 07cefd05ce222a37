package path

import "strings"

// Join returns the path of name inside the object obj, such as
// Join("Device.WiFi.SSID.1.", "Enable") = "Device.WiFi.SSID.1.Enable". obj
// should end in "."; one is added if it does not, so that callers holding
// either form get the same result. Join does not validate its arguments.
func Join(obj, name string) string {
	if obj == "" || strings.HasSuffix(obj, ".") {
		return obj + name
	}
	return obj + "." + name
}

// SplitParam splits a parameter, command or event path after its last "."
// into the object path (ending in ".") and the final element as written,
// such as "Enable", "Reboot()" or "Boot!". For an object path (ending in
// ".") name is empty; for text without a "." obj is empty. SplitParam is
// a string operation and does not validate the path; the final element of
// a valid non-object path never contains ".", so the split is always at the
// right place for valid input.
func SplitParam(p string) (obj, name string) {
	i := strings.LastIndexByte(p, '.')
	return p[:i+1], p[i+1:]
}

// IsRelativeParamName reports whether s names a parameter relative to an
// object, as the params of a Set or Add do: names joined by ".", with
// instance numbers (positive, no leading zero) between them, such as
// "Enable" or "Stats.BytesSent" or "Radio.1.Channel".
func IsRelativeParamName(s string) bool {
	if s == "" {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if !IsValidName(part) && (!allDigits(part) || part[0] == '0') {
			return false
		}
	}
	return true
}

// IsValidName reports whether s is a valid object, parameter, command or
// event name: a letter or "_" followed by letters, digits, "_" or "-" (the
// last for vendor extensions such as "X_ACME-COM_Foo").
func IsValidName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}
