package path

import (
	"errors"
	"testing"

	"cuttle/usp/usperr"
)

// model is a fake data model for MatchFunc, keyed by object instance path
// plus relative parameter path. Reference following is "resolved" by storing
// the followed path directly, as a real lookup would after following it.
var model = map[string]string{
	"Device.WiFi.SSID.1.Name":                                        "MyHome",
	"Device.WiFi.SSID.1.Enable":                                      "true",
	"Device.WiFi.SSID.1.Stats.ErrorsSent":                            "0",
	"Device.WiFi.SSID.2.Name":                                        "Guest",
	"Device.WiFi.SSID.2.Enable":                                      "0",
	"Device.WiFi.SSID.2.Stats.ErrorsSent":                            "18446744073709551615",
	"Device.WiFi.AccessPoint.1.SSIDReference+.SSID":                  "MyHome",
	"Device.WiFi.AccessPoint.1.AssociatedDevice.4.OperatingStandard": "ac",
	"Device.WiFi.AccessPoint.1.AssociatedDevice.5.OperatingStandard": "n",
	"Device.IP.Interface.1.Name":                                     "eth0",
	"Device.IP.Interface.1.MaxMTUSize":                               "1500",
	"Device.IP.Interface.1.Capabilities":                             "IPv6Firewall, PCP",
	"Device.IP.Interface.1.IPv6Address.1.ValidLifetime":              "2021-06-06T07:59:59Z",
	"Device.IP.Interface.1.IPv6Address.2.ValidLifetime":              "9999-12-31T23:59:59Z",
	"Device.NAT.PortMapping.1.RemoteHost":                            "",
	"Device.NAT.PortMapping.1.ExternalPort":                          "0",
	"Device.NAT.PortMapping.1.Protocol":                              "TCP",
	"Device.NAT.PortMapping.2.RemoteHost":                            "",
	"Device.NAT.PortMapping.2.ExternalPort":                          "0",
	"Device.NAT.PortMapping.2.Protocol":                              "UDP",
}

func lookupModel(obj, rel string) (string, bool) {
	v, ok := model[obj+rel]
	return v, ok
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name     string
		pattern  string
		concrete string
		eval     bool // use MatchFunc with the fake model instead of Match
		want     bool
		err      bool // a *usperr.Error with code 7026 is expected
	}{
		// Structure: Match.
		{name: "object covers descendants", pattern: "Device.WiFi.", concrete: "Device.WiFi.SSID.1.Enable", want: true},
		{name: "prefix trap on names", pattern: "Device.WiFi.", concrete: "Device.WiFiX.Foo"},
		{name: "object covers itself", pattern: "Device.WiFi.", concrete: "Device.WiFi.", want: true},
		{name: "object does not cover same-named parameter", pattern: "Device.WiFi.", concrete: "Device.WiFi"},
		{name: "object does not cover same-named command", pattern: "Device.X.Reboot.", concrete: "Device.X.Reboot()"},
		{name: "prefix trap on instances", pattern: "Device.WiFi.SSID.1.", concrete: "Device.WiFi.SSID.10.Enable"},
		{name: "instance covers its parameters", pattern: "Device.WiFi.SSID.1.", concrete: "Device.WiFi.SSID.1.Enable", want: true},
		{name: "wildcard", pattern: "Device.WiFi.SSID.*.Enable", concrete: "Device.WiFi.SSID.7.Enable", want: true},
		{name: "wildcard other parameter", pattern: "Device.WiFi.SSID.*.Enable", concrete: "Device.WiFi.SSID.7.Name"},
		{name: "parameter pattern is exact length", pattern: "Device.WiFi.SSID.*.Enable", concrete: "Device.WiFi.SSID.7.Enable.X"},
		{name: "wildcard needs an instance", pattern: "Device.WiFi.SSID.*.Enable", concrete: "Device.WiFi.SSID.Enable"},
		{name: "placeholder", pattern: "Device.WiFi.SSID.{i}.Enable", concrete: "Device.WiFi.SSID.3.Enable", want: true},
		{name: "placeholder object", pattern: "Device.WiFi.SSID.{i}.", concrete: "Device.WiFi.SSID.3.Stats.BytesSent", want: true},
		{name: "placeholder needs an instance", pattern: "Device.WiFi.SSID.{i}.", concrete: "Device.WiFi.SSID."},
		{name: "instance number must be equal", pattern: "Device.WiFi.SSID.2.Enable", concrete: "Device.WiFi.SSID.3.Enable"},
		{name: "command", pattern: "Device.Reboot()", concrete: "Device.Reboot()", want: true},
		{name: "command vs parameter", pattern: "Device.Reboot()", concrete: "Device.Reboot"},
		{name: "event vs command", pattern: "Device.Boot!", concrete: "Device.Boot()"},
		{name: "event", pattern: "Device.LocalAgent.Periodic!", concrete: "Device.LocalAgent.Periodic!", want: true},
		{name: "object covers events", pattern: "Device.LocalAgent.", concrete: "Device.LocalAgent.Periodic!", want: true},
		{name: "expression matches any instance structurally", pattern: `Device.IP.Interface.[Name=="eth0"].`, concrete: "Device.IP.Interface.9.Name", want: true},
		{name: "reference pattern matches nothing", pattern: "Device.NAT.PortMapping.1.Interface+.Name", concrete: "Device.NAT.PortMapping.1.Interface.Name"},
		{name: "search as concrete path", pattern: "Device.IP.Interface.*.", concrete: "Device.IP.Interface.*.Name", err: true},
		{name: "invalid pattern", pattern: "Device.IP..Interface", concrete: "Device.IP.Interface", err: true},
		{name: "mixed pattern", pattern: "Device.IP.Interface.{i}.X.*.", concrete: "Device.IP.Interface.1.X.1.", err: true},
		{name: "invalid concrete", pattern: "Device.", concrete: "Device.IP.Interface.0.", err: true},

		// Expressions: MatchFunc.
		{name: "string equal", pattern: `Device.WiFi.SSID.[Name=="MyHome"].Enable`, concrete: "Device.WiFi.SSID.1.Enable", eval: true, want: true},
		{name: "string not equal", pattern: `Device.WiFi.SSID.[Name=="MyHome"].Enable`, concrete: "Device.WiFi.SSID.2.Enable", eval: true},
		{name: "bool true", pattern: `Device.WiFi.SSID.[Enable==true].`, concrete: "Device.WiFi.SSID.1.Name", eval: true, want: true},
		{name: "bool 0 is false", pattern: `Device.WiFi.SSID.[Enable==true].`, concrete: "Device.WiFi.SSID.2.Name", eval: true},
		{name: "bool false matches 0", pattern: `Device.WiFi.SSID.[Enable==false].`, concrete: "Device.WiFi.SSID.2.Name", eval: true, want: true},
		{name: "bool number literal", pattern: `Device.WiFi.SSID.[Enable==1].`, concrete: "Device.WiFi.SSID.1.", eval: true, want: true},
		{name: "bool !=", pattern: `Device.WiFi.SSID.[Enable!=true].`, concrete: "Device.WiFi.SSID.2.", eval: true, want: true},
		{name: "sub-object counter", pattern: `Device.WiFi.SSID.[Stats.ErrorsSent>0].`, concrete: "Device.WiFi.SSID.2.", eval: true, want: true},
		{name: "sub-object counter zero", pattern: `Device.WiFi.SSID.[Stats.ErrorsSent>0].`, concrete: "Device.WiFi.SSID.1.", eval: true},
		{name: "huge integers compare exactly", pattern: `Device.WiFi.SSID.[Stats.ErrorsSent==18446744073709551614].`, concrete: "Device.WiFi.SSID.2.", eval: true},
		{name: "numeric compare ignores form", pattern: `Device.IP.Interface.[MaxMTUSize==1500.0].`, concrete: "Device.IP.Interface.1.", eval: true, want: true},
		{name: "string compare is exact", pattern: `Device.IP.Interface.[MaxMTUSize=="1500.0"].`, concrete: "Device.IP.Interface.1.", eval: true},
		{name: "number vs non-numeric value", pattern: `Device.IP.Interface.[Name==5].`, concrete: "Device.IP.Interface.1.", eval: true},
		{name: "number != non-numeric value", pattern: `Device.IP.Interface.[Name!=5].`, concrete: "Device.IP.Interface.1.", eval: true},
		{name: "<= bound", pattern: `Device.IP.Interface.[MaxMTUSize<=1500].`, concrete: "Device.IP.Interface.1.", eval: true, want: true},
		{name: "< bound", pattern: `Device.IP.Interface.[MaxMTUSize<1500].`, concrete: "Device.IP.Interface.1.", eval: true},
		{name: "list contains", pattern: `Device.IP.Interface.[Capabilities~="PCP"].`, concrete: "Device.IP.Interface.1.", eval: true, want: true},
		{name: "list item must match exactly", pattern: `Device.IP.Interface.[Capabilities~="PC"].`, concrete: "Device.IP.Interface.1.", eval: true},
		{name: "missing parameter", pattern: `Device.IP.Interface.[Missing==1].`, concrete: "Device.IP.Interface.1.", eval: true},
		{name: "spec example with reference", pattern: `Device.WiFi.AccessPoint.[SSIDReference+.SSID=="MyHome"].AssociatedDevice.[OperatingStandard=="ac"].SignalStrength`, concrete: "Device.WiFi.AccessPoint.1.AssociatedDevice.4.SignalStrength", eval: true, want: true},
		{name: "spec example second level fails", pattern: `Device.WiFi.AccessPoint.[SSIDReference+.SSID=="MyHome"].AssociatedDevice.[OperatingStandard=="ac"].SignalStrength`, concrete: "Device.WiFi.AccessPoint.1.AssociatedDevice.5.SignalStrength", eval: true},
		{name: "multi-part unique key", pattern: `Device.NAT.PortMapping.[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"].`, concrete: "Device.NAT.PortMapping.1.", eval: true, want: true},
		{name: "multi-part unique key mismatch", pattern: `Device.NAT.PortMapping.[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"].`, concrete: "Device.NAT.PortMapping.2.", eval: true},
		{name: "dateTime before", pattern: `Device.IP.Interface.*.IPv6Address.[ValidLifetime<2021-06-06T08:00:00Z].`, concrete: "Device.IP.Interface.1.IPv6Address.1.", eval: true, want: true},
		{name: "dateTime after", pattern: `Device.IP.Interface.*.IPv6Address.[ValidLifetime<2021-06-06T08:00:00Z].`, concrete: "Device.IP.Interface.1.IPv6Address.2.", eval: true},
		{name: "structure fails before lookup", pattern: `Device.WiFi.SSID.[Name=="MyHome"].Enable`, concrete: "Device.WiFi.Radio.1.Enable", eval: true},
		{name: "no expressions", pattern: "Device.WiFi.SSID.*.", concrete: "Device.WiFi.SSID.4.", eval: true, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bool
			var err error
			if tt.eval {
				p, perr := Parse(tt.pattern)
				if perr != nil {
					t.Fatal(perr)
				}
				c, perr := Parse(tt.concrete)
				if perr != nil {
					t.Fatal(perr)
				}
				got, err = p.MatchFunc(c, lookupModel)
			} else {
				got, err = Match(tt.pattern, tt.concrete)
			}
			if tt.err {
				var ue *usperr.Error
				if !errors.As(err, &ue) || ue.Code != usperr.InvalidPath {
					t.Fatalf("error = %v, want a *usperr.Error with code 7026", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.concrete, got, tt.want)
			}
		})
	}
}

func TestMatchFuncRejectsSearchPath(t *testing.T) {
	p, _ := Parse("Device.WiFi.")
	c, _ := Parse("Device.WiFi.SSID.*.")
	if p.Matches(c) {
		t.Error("Matches accepted a search path as concrete")
	}
	if _, err := p.MatchFunc(c, lookupModel); usperr.CodeOf(err) != usperr.InvalidPath {
		t.Errorf("MatchFunc error = %v, want code 7026", err)
	}
}

func TestMatchFuncLookupArguments(t *testing.T) {
	p, _ := Parse(`Device.WiFi.AccessPoint.[SSIDReference+.SSID=="MyHome"].AssociatedDevice.[ OperatingStandard == "ac" ].SignalStrength`)
	c, _ := Parse("Device.WiFi.AccessPoint.1.AssociatedDevice.4.SignalStrength")
	var calls [][2]string
	ok, err := p.MatchFunc(c, func(obj, rel string) (string, bool) {
		calls = append(calls, [2]string{obj, rel})
		return lookupModel(obj, rel)
	})
	if err != nil || !ok {
		t.Fatalf("MatchFunc = %v, %v; want true", ok, err)
	}
	want := [][2]string{
		{"Device.WiFi.AccessPoint.1.", "SSIDReference+.SSID"},
		{"Device.WiFi.AccessPoint.1.AssociatedDevice.4.", "OperatingStandard"},
	}
	if len(calls) != len(want) || calls[0] != want[0] || calls[1] != want[1] {
		t.Errorf("lookup calls = %q, want %q", calls, want)
	}
}

func TestHolds(t *testing.T) {
	tests := []struct {
		expr  string
		value string
		want  bool
	}{
		{`[X=="a"]`, "a", true},
		{`[X=="a"]`, "A", false},
		{`[X!="a"]`, "b", true},
		{`[X==""]`, "", true},
		{`[X=="%22q%22"]`, `"q"`, true},
		{`[X==true]`, "1", true},
		{`[X==true]`, "yes", false},
		{`[X!=true]`, "yes", false},
		{`[X==false]`, "false", true},
		{`[X==0]`, "-0", true},
		{`[X==0]`, "0.000", true},
		{`[X==0123]`, "123", true},
		{`[X>-1.5]`, "-1.49", true},
		{`[X>-1.5]`, "-1.51", false},
		{`[X<0.5]`, "0.49999999999999999999", true},
		{`[X>=10]`, "9", false},
		{`[X>=10]`, "10", true},
		{`[X>9]`, "10", true},
		{`[X<-9]`, "-10", true},
		{`[X<5]`, "abc", false},
		{`[X<5]`, "NaN", false},
		{`[X<5]`, "1e2", false},
		{`[X~="b"]`, "a,b,c", true},
		{`[X~="b"]`, " a , b ", true},
		{`[X~="b"]`, "ab", false},
		{`[X~=""]`, "", false},
		{`[X~=3]`, "1, 2, 03", true},
		{`[X~=true]`, "0,1", true},
		{`[X>2021-01-01T00:00:00Z]`, "2021-01-01T01:00:00+00:30", true},
		{`[X==2021-01-01T00:00:00Z]`, "2021-01-01T01:00:00+01:00", true},
		{`[X==2021-01-01T00:00:00Z]`, "soon", false},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" "+tt.value, func(t *testing.T) {
			e, err := ParseExpr(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got := e.Eval(func(rel string) (string, bool) {
				if rel != "X" {
					t.Errorf("lookup of %q, want X", rel)
				}
				return tt.value, true
			})
			if got != tt.want {
				t.Errorf("%s with X=%q: got %v, want %v", tt.expr, tt.value, got, tt.want)
			}
		})
	}
}
