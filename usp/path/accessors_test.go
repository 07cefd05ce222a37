package path

import "testing"

func TestAccessors(t *testing.T) {
	tests := []struct {
		in        string
		supported bool
		name      string
		parent    string // "" means nil
		sdm       string
		search    bool
		partial   bool
		instance  bool
	}{
		{in: "Device.", name: "Device", sdm: "Device.", partial: true},
		{in: "Device.WiFi.", name: "WiFi", parent: "Device.", sdm: "Device.WiFi.", partial: true},
		{in: "Device.WiFi.SSID.3.", name: "SSID", parent: "Device.WiFi.SSID.", sdm: "Device.WiFi.SSID.{i}.", partial: true, instance: true},
		{in: "Device.WiFi.SSID.3.Stats.BytesSent", name: "BytesSent", parent: "Device.WiFi.SSID.3.Stats.", sdm: "Device.WiFi.SSID.{i}.Stats.BytesSent"},
		{in: "Device.IP.Interface.*.IPv4Address.[Enable==true].IPAddress", name: "IPAddress", parent: "Device.IP.Interface.*.IPv4Address.[Enable==true].", sdm: "Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress", search: true},
		{in: `Device.IP.Interface.[Name == "eth0"].`, name: "Interface", parent: "Device.IP.Interface.", sdm: "Device.IP.Interface.{i}.", search: true, partial: true, instance: true},
		{in: "Device.Reboot()", name: "Reboot", parent: "Device.", sdm: "Device.Reboot()"},
		{in: "Device.DeviceInfo.FirmwareImage.2.Download()", name: "Download", parent: "Device.DeviceInfo.FirmwareImage.2.", sdm: "Device.DeviceInfo.FirmwareImage.{i}.Download()"},
		{in: "Device.LocalAgent.Periodic!", name: "Periodic", parent: "Device.LocalAgent.", sdm: "Device.LocalAgent.Periodic!"},
		{in: "Device.NAT.PortMapping.1.Interface+.Name", name: "Name", parent: "Device.NAT.PortMapping.1.Interface+.", sdm: "Device.NAT.PortMapping.{i}.Interface+.Name"},
		{in: "Device.IP.Interface.{i}.Enable", supported: true, name: "Enable", parent: "Device.IP.Interface.{i}.", sdm: "Device.IP.Interface.{i}.Enable"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			parse := Parse
			if tt.supported {
				parse = ParseSupported
			}
			p, err := parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Name(); got != tt.name {
				t.Errorf("Name() = %q, want %q", got, tt.name)
			}
			parent := p.Parent()
			switch {
			case tt.parent == "" && parent != nil:
				t.Errorf("Parent() = %q, want nil", parent)
			case tt.parent != "" && (parent == nil || parent.String() != tt.parent):
				t.Errorf("Parent() = %v, want %q", parent, tt.parent)
			case parent != nil && parent.Kind() != Object:
				t.Errorf("Parent().Kind() = %v, want object", parent.Kind())
			}
			if parent != nil {
				// The parent must itself be a valid path.
				if _, err := parse(parent.String()); err != nil {
					t.Errorf("parent %q does not parse: %v", parent, err)
				}
			}
			if got := p.Supported(); got != tt.sdm {
				t.Errorf("Supported() = %q, want %q", got, tt.sdm)
			}
			if p.IsSearch() != tt.search || p.IsPartial() != tt.partial || p.IsInstance() != tt.instance {
				t.Errorf("IsSearch, IsPartial, IsInstance = %v, %v, %v; want %v, %v, %v",
					p.IsSearch(), p.IsPartial(), p.IsInstance(), tt.search, tt.partial, tt.instance)
			}
		})
	}
}

func TestKindStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{Object.String(), "object"},
		{Parameter.String(), "parameter"},
		{Command.String(), "command"},
		{Event.String(), "event"},
		{Kind(99).String(), "unknown"},
		{SegExpr.String(), "expression"},
		{OpContains.String(), "~="},
		{OpGe.String(), ">="},
		{Op(-1).String(), "?"},
		{DateTime.String(), "dateTime"},
		{Segment{Kind: SegName, Name: "LowerLayers", Ref: RefNth, RefN: 3}.String(), "LowerLayers#3+"},
		{Segment{Kind: SegPlaceholder}.String(), "{i}"},
		{Cond{Path: "Alias", Op: OpNe, Value: `a"b%`, Kind: String}.String(), `Alias!="a%22b%25"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	t.Run("Join", func(t *testing.T) {
		tests := []struct{ obj, name, want string }{
			{"Device.WiFi.SSID.1.", "Enable", "Device.WiFi.SSID.1.Enable"},
			{"Device.WiFi.SSID.1", "Enable", "Device.WiFi.SSID.1.Enable"},
			{"Device.", "Reboot()", "Device.Reboot()"},
		}
		for _, tt := range tests {
			if got := Join(tt.obj, tt.name); got != tt.want {
				t.Errorf("Join(%q, %q) = %q, want %q", tt.obj, tt.name, got, tt.want)
			}
		}
	})
	t.Run("SplitParam", func(t *testing.T) {
		tests := []struct{ in, obj, name string }{
			{"Device.WiFi.SSID.1.Enable", "Device.WiFi.SSID.1.", "Enable"},
			{`Device.IP.Interface.[Name=="a.b"].Reset()`, `Device.IP.Interface.[Name=="a.b"].`, "Reset()"},
			{"Device.Boot!", "Device.", "Boot!"},
			{"Device.WiFi.", "Device.WiFi.", ""},
			{"Device", "", "Device"},
		}
		for _, tt := range tests {
			if obj, name := SplitParam(tt.in); obj != tt.obj || name != tt.name {
				t.Errorf("SplitParam(%q) = %q, %q; want %q, %q", tt.in, obj, name, tt.obj, tt.name)
			}
		}
	})
	t.Run("IsValidName", func(t *testing.T) {
		tests := []struct {
			in   string
			want bool
		}{
			{"Device", true}, {"_x", true}, {"X_ACME-COM_Foo", true}, {"IPv4Address", true},
			{"", false}, {"1st", false}, {"-x", false}, {"a.b", false}, {"a b", false}, {"Reboot()", false},
		}
		for _, tt := range tests {
			if got := IsValidName(tt.in); got != tt.want {
				t.Errorf("IsValidName(%q) = %v, want %v", tt.in, got, tt.want)
			}
		}
	})
	t.Run("ParseExpr", func(t *testing.T) {
		for _, in := range []string{"", "Name==1", `[Name=="x"]x`, "[]"} {
			if _, err := ParseExpr(in); err == nil {
				t.Errorf("ParseExpr(%q) succeeded, want an error", in)
			}
		}
		e, err := ParseExpr(`[ Name == "eth0" && Enable == true ]`)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := e.String(), `[Name=="eth0"&&Enable==true]`; got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	})
}

func TestIsRelativeParamName(t *testing.T) {
	for s, want := range map[string]bool{
		"Enable": true, "Stats.BytesSent": true, "Radio.1.Channel": true, "X_ACME-COM_Foo": true,
		"": false, ".Enable": false, "Enable.": false, "Radio.01.Channel": false, "Radio.0.Channel": false,
		"1": true, "Radio.*.Channel": false, "Radio.[Enable==true].Channel": false, "En able": false,
	} {
		if got := IsRelativeParamName(s); got != want {
			t.Errorf("IsRelativeParamName(%q) = %v, want %v", s, got, want)
		}
	}
}
