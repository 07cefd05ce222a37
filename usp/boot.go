package usp

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The Boot! event's causes (TR-181 Device.Boot!).
const (
	CauseLocalReboot        = "LocalReboot"
	CauseRemoteReboot       = "RemoteReboot"
	CauseFactoryReset       = "FactoryReset"
	CauseLocalFactoryReset  = "LocalFactoryReset"
	CauseRemoteFactoryReset = "RemoteFactoryReset"
)

// Boot is the content of a Device.Boot! event.
type Boot struct {
	// CommandKey is the command_key of the Reboot/FactoryReset/Activate that
	// caused the boot, else "".
	CommandKey string
	// Cause is one of the Cause* constants.
	Cause string
	// Reason is free text; "Unknown" when not given.
	Reason          string
	FirmwareUpdated bool
	// ParameterMap holds the values of the recipient controller's enabled
	// BootParameters, by full parameter path.
	ParameterMap map[string]string
}

// Event returns b as the Device.Boot! event.
func (b Boot) Event() *Event {
	pm := b.ParameterMap
	if pm == nil {
		pm = map[string]string{}
	}
	js, _ := json.Marshal(pm) // a map[string]string always marshals
	reason := b.Reason
	if reason == "" {
		reason = "Unknown"
	}
	return &Event{ObjPath: "Device.", Name: "Boot!", Params: map[string]string{
		"CommandKey":      b.CommandKey,
		"Cause":           b.Cause,
		"Reason":          reason,
		"FirmwareUpdated": strconv.FormatBool(b.FirmwareUpdated),
		"ParameterMap":    string(js),
	}}
}

// IsBoot reports whether e is the Device.Boot! event.
func (e *Event) IsBoot() bool { return e.ObjPath == "Device." && e.Name == "Boot!" }

// Boot reads e as a Device.Boot! event. A malformed FirmwareUpdated or
// ParameterMap is an error; the other fields are taken as sent.
func (e *Event) Boot() (Boot, error) {
	if !e.IsBoot() {
		return Boot{}, fmt.Errorf("want event Device.Boot!, got %q", e.Path())
	}
	b := Boot{CommandKey: e.Params["CommandKey"], Cause: e.Params["Cause"], Reason: e.Params["Reason"]}
	if v, ok := e.Params["FirmwareUpdated"]; ok && v != "" {
		fu, err := ParseBool(v)
		if err != nil {
			return b, fmt.Errorf("boot FirmwareUpdated: %w", err)
		}
		b.FirmwareUpdated = fu
	}
	if pm := e.Params["ParameterMap"]; pm != "" {
		if err := json.Unmarshal([]byte(pm), &b.ParameterMap); err != nil {
			return b, fmt.Errorf("boot ParameterMap: %w", err)
		}
	}
	return b, nil
}

// ParseBool reads a TR-106 boolean: "true"/"1" or "false"/"0".
func ParseBool(s string) (bool, error) {
	switch s {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}
