package path

import "testing"

func BenchmarkParse(b *testing.B) {
	benches := []struct{ name, in string }{
		{"parameter", "Device.WiFi.SSID.3.Stats.BytesSent"},
		{"wildcard", "Device.IP.Interface.*.IPv4Address.*.IPAddress"},
		{"search", `Device.IP.Interface.*.IPv4Address.[AddressingType=="DHCP"&&Enable==true].IPAddress`},
		{"spaces", `Device.NAT.PortMapping.[ RemoteHost == "" && ExternalPort == 0 && Protocol == "TCP" ].`},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bb.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMatch(b *testing.B) {
	b.Run("Matches", func(b *testing.B) {
		p, _ := Parse("Device.WiFi.SSID.*.Stats.")
		c, _ := Parse("Device.WiFi.SSID.2.Stats.ErrorsSent")
		b.ReportAllocs()
		for b.Loop() {
			if !p.Matches(c) {
				b.Fatal("no match")
			}
		}
	})
	b.Run("MatchFunc", func(b *testing.B) {
		p, _ := Parse(`Device.WiFi.SSID.[Enable==false&&Stats.ErrorsSent>0].Name`)
		c, _ := Parse("Device.WiFi.SSID.2.Name")
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := p.MatchFunc(c, lookupModel); !ok || err != nil {
				b.Fatal("no match", err)
			}
		}
	})
	b.Run("MatchString", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := Match("Device.WiFi.SSID.{i}.", "Device.WiFi.SSID.2.Stats.ErrorsSent"); !ok || err != nil {
				b.Fatal("no match", err)
			}
		}
	})
}
