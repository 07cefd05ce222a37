package agent

import (
	"strconv"
	"strings"

	"cuttle/devices/tr181"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// paramTarget finds the parameter a Set or Add names relative to n, which
// may be inside single-instance sub-objects ("Security.ModeEnabled").
func paramTarget(n *node, rel string) (*node, *tr181.Param) {
	for {
		part, rest, more := strings.Cut(rel, ".")
		if !more {
			return n, n.obj.Param(part)
		}
		if n = n.child(part); n == nil {
			return nil, nil
		}
		rel = rest
	}
}

// checkWrite decides whether a Controller may write value to p on n and
// returns the value to store. creating is set while an Add builds n, when
// writeOnceReadOnly parameters are still open.
func (a *Agent) checkWrite(n *node, p *tr181.Param, value string, creating bool) (string, *usperr.Error) {
	if !p.Writable() {
		return "", usperr.New(usperr.ParamReadOnly, "%s is read-only", p.Name)
	}
	if p.WriteOnce && !creating && n.vals[p.Index] != "" {
		// writeOnceReadOnly (TR-369 "writeOnceReadOnly Parameter Access"):
		// already set, so now read-only. This is how ReferenceList's
		// "immutable once written" is enforced.
		return "", usperr.New(usperr.ParamReadOnly, "%s can only be set once and already is", p.Name)
	}
	v, err := p.Validate(value)
	if err != nil {
		return "", usperr.As(err)
	}
	if v, err = a.checkValue(n, p, v); err != nil {
		return "", usperr.As(err)
	}
	if n.obj.IsKey(p.Name) && a.keyConflict(n, p, v) {
		return "", usperr.New(usperr.ObjectDuplicateKey, "another %s instance already has this unique key", n.obj.Path)
	}
	return v, nil
}

// keyConflict reports whether setting p to v would give n the same unique
// key as another row. Key sets whose values are all empty are not compared:
// an unset key does not identify anything yet.
func (a *Agent) keyConflict(n *node, p *tr181.Param, v string) bool {
	for _, ks := range n.obj.UniqueKeys {
		in := false
		for _, k := range ks {
			in = in || k == p.Name
		}
		if !in {
			continue
		}
		mine := make([]string, len(ks))
		empty := true
		for i, k := range ks {
			mine[i] = n.get(k)
			if k == p.Name {
				mine[i] = v
			}
			empty = empty && mine[i] == ""
		}
		if !empty && a.keyTaken(n, ks, mine) {
			return true
		}
	}
	return false
}

// keyTaken reports whether a row other than n has the values vals for the
// key set ks.
func (a *Agent) keyTaken(n *node, ks, vals []string) bool {
	for _, r := range n.parent.rows(n.obj) {
		if r == n {
			continue
		}
		same := true
		for i, k := range ks {
			same = same && r.get(k) == vals[i]
		}
		if same {
			return true
		}
	}
	return false
}

// checkValue applies the rules that depend on the rest of the data model
// and returns the value in canonical form. Errors are InvalidValue (7012) or
// ValueConflict (7014).
func (a *Agent) checkValue(n *node, p *tr181.Param, v string) (string, error) {
	s := dm()
	switch {
	case n.obj == s.deviceInfo && p.Name == "BootFirmwareImage":
		img := a.nodeAt(v)
		if img == nil || img.obj != s.firmwareImage {
			return "", usperr.New(usperr.InvalidValue, "%q is not a Device.DeviceInfo.FirmwareImage instance", v)
		}
		if img.get("Available") != "true" || (img.get("Status") != "Active" && img.get("Status") != "Available") {
			return "", usperr.New(usperr.InvalidValue, "%s holds no bootable image", img.ref())
		}
		return img.ref(), nil
	case n.obj == s.firmwareImage && p.Name == "Available":
		if v == "false" && n.get("Status") == "Active" {
			return "", usperr.New(usperr.ValueConflict, "the active image cannot be made unavailable")
		}
	case n.obj == s.subscription && p.Name == "ReferenceList":
		if v == "" {
			return "", nil
		}
		for _, item := range strings.Split(v, ",") {
			if _, err := path.Parse(item); err != nil {
				return "", usperr.New(usperr.InvalidValue, "ReferenceList item %q is not a path: %v", item, err)
			}
		}
	case p.Pattern == tr181.ObjRef && v != "":
		// References must lead somewhere; AccessPoint.SSIDReference to an
		// SSID and SSID.LowerLayers to radios.
		want := map[*tr181.Object]*tr181.Object{s.ap: s.ssid, s.ssid: s.radio}[n.obj]
		var refs []string
		for _, item := range strings.Split(v, ",") {
			t := a.nodeAt(item)
			if t == nil || (want != nil && t.obj != want) {
				return "", usperr.New(usperr.InvalidValue, "%q does not reference an existing instance of the right object", item)
			}
			refs = append(refs, t.ref())
		}
		return strings.Join(refs, ","), nil
	}
	return v, nil
}

// afterSet carries out what a Controller's change means for the device:
// interfaces follow their Enable.
func (a *Agent) afterSet(n *node, p *tr181.Param) {
	s := dm()
	if p.Name != "Enable" {
		return
	}
	on := n.get("Enable") == "true"
	switch n.obj {
	case s.radio, s.ssid, s.ipIf:
		a.setName(n, "Status", pick(on, "Up", "Down"))
		a.setName(n, "LastChange", "0")
	case s.ap:
		a.setName(n, "Status", pick(on, "Enabled", "Disabled"))
	case s.ipv4:
		a.setName(n, "Status", pick(on, "Enabled", "Disabled"))
	case s.time:
		a.setName(n, "Status", pick(on, "Synchronized", "Disabled"))
	}
}

func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func uitoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
