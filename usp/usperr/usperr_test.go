package usperr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestEveryCodeHasNameAndMeaning(t *testing.T) {
	all := AllCodes()
	if len(all) != 32+7 {
		t.Fatalf("AllCodes() has %d codes, want 39 (7000-7031, 7100-7106)", len(all))
	}
	names := map[string]Code{}
	for _, c := range all {
		if !c.Known() {
			t.Errorf("%d not known", c)
		}
		if c.Name() == "" || c.Name() == "Unknown" || c.Meaning() == "" {
			t.Errorf("%d: name %q meaning %q", c, c.Name(), c.Meaning())
		}
		if prev, dup := names[c.Name()]; dup {
			t.Errorf("%d and %d share the name %q", prev, c, c.Name())
		}
		names[c.Name()] = c
	}
}

func TestSpecMeanings(t *testing.T) {
	for c, want := range map[Code]string{
		7000: "Message failed", 7008: "Invalid path syntax", 7013: "Attempt to update non-writeable parameter",
		7026: "Invalid path", 7027: "Invalid command arguments", 7031: "Path already registered",
		7100: "Record could not be parsed", 7106: "Session context not allowed",
	} {
		if got := c.Meaning(); got != want {
			t.Errorf("%d meaning %q, want %q", c, got, want)
		}
	}
	for c, want := range map[Code]string{7250: "DataModelDefined", 7900: "VendorDefined", 7500: "Unknown", 42: "Unknown"} {
		if c.Known() || c.Name() != want {
			t.Errorf("%d: known=%v name=%q, want %q", c, c.Known(), c.Name(), want)
		}
	}
	if s := InvalidPath.String(); s != "7026 InvalidPath" {
		t.Errorf("String() = %q", s)
	}
}

func TestErrorsAsAndIs(t *testing.T) {
	base := AtPath(InvalidPath, "Device.Nope.", "no such object")
	wrapped := fmt.Errorf("get failed: %w", base)
	var e *Error
	if !errors.As(wrapped, &e) || e != base {
		t.Fatal("errors.As did not find the *Error")
	}
	if !errors.Is(wrapped, &Error{Code: InvalidPath}) {
		t.Error("errors.Is by code failed")
	}
	if errors.Is(wrapped, &Error{Code: InvalidValue}) {
		t.Error("errors.Is matched another code")
	}
	if CodeOf(wrapped) != InvalidPath || CodeOf(errors.New("x")) != InternalError || CodeOf(nil) != 0 {
		t.Error("CodeOf wrong")
	}
	if As(nil) != nil || As(wrapped) != base || As(errors.New("boom")).Code != InternalError {
		t.Error("As wrong")
	}
	msg := base.Error()
	for _, part := range []string{"7026", "InvalidPath", "Device.Nope.", "no such object"} {
		if !strings.Contains(msg, part) {
			t.Errorf("Error() = %q lacks %q", msg, part)
		}
	}
	withParams := &Error{Code: InvalidValue, Params: []*Error{{Code: ParamReadOnly, Path: "Device.DeviceInfo.SerialNumber", Msg: "read-only"}}}
	if s := withParams.Error(); !strings.Contains(s, "Invalid value") || !strings.Contains(s, "SerialNumber (7013 ParamReadOnly: read-only)") {
		t.Errorf("Error() with params = %q", s)
	}
}
