package path

import (
	"errors"
	"strings"
	"testing"

	"cuttle/usp/usperr"
)

// parseCase is one row of the Parse/ParseSupported table. segs abbreviates
// the segment kinds: N name, R name with reference following, I instance
// number, W wildcard, E expression, P "{i}" placeholder.
type parseCase struct {
	name      string
	in        string
	supported bool   // use ParseSupported
	kind      Kind   // valid cases only
	want      string // canonical String(); empty means the input itself
	segs      string // empty means not checked
	err       string // non-empty: the input is invalid and Msg contains this
}

var parseCases = []parseCase{
	// Plain object and parameter paths.
	{name: "root object", in: "Device.", kind: Object, segs: "N"},
	{name: "object", in: "Device.WiFi.", kind: Object, segs: "NN"},
	{name: "object instance", in: "Device.WiFi.SSID.1.", kind: Object, segs: "NNNI"},
	{name: "parameter in instance", in: "Device.WiFi.SSID.1.Enable", kind: Parameter, segs: "NNNIN"},
	{name: "parameter in sub-object", in: "Device.WiFi.SSID.3.Stats.BytesSent", kind: Parameter, segs: "NNNINN"},
	{name: "single-instance parameter", in: "Device.DeviceInfo.SoftwareVersion", kind: Parameter, segs: "NNN"},
	{name: "vendor extension name", in: "Device.X_ACME-COM_Foo.Bar_1", kind: Parameter, segs: "NNN"},
	{name: "largest instance number", in: "Device.IP.Interface.4294967295.", kind: Object, segs: "NNNI"},
	{name: "nested instances", in: "Device.IP.Interface.2.IPv4Address.10.IPAddress", kind: Parameter, segs: "NNNININ"},

	// Wildcards.
	{name: "wildcard object", in: "Device.IP.Interface.*.", kind: Object, segs: "NNNW"},
	{name: "two wildcards", in: "Device.IP.Interface.*.IPv4Address.*.IPAddress", kind: Parameter, segs: "NNNWNWN"},

	// Unique keys and search expressions, every operator.
	{name: "unique key", in: `Device.IP.Interface.[Name=="eth0"].`, kind: Object, segs: "NNNE"},
	{name: "unique key parameter", in: `Device.IP.Interface.[Alias=="WAN"].Status`, kind: Parameter, segs: "NNNEN"},
	{name: "multi-part unique key", in: `Device.NAT.PortMapping.[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"].`, kind: Object, segs: "NNNE"},
	{name: "op !=", in: `Device.IP.Interface.[Type!="Loopback"].Status`, kind: Parameter, segs: "NNNEN"},
	{name: "op ~= string", in: `Device.PCP.Client.*.Server.[Capabilities~="IPv6Firewall"].`, kind: Object, segs: "NNNWNE"},
	{name: "op ~= number", in: `Device.PeriodicStatistics.SampleSet.[SampleSeconds~=5].`, kind: Object, segs: "NNNE"},
	{name: "op > in sub-object", in: `Device.IP.Interface.[Type=="Normal"&&Stats.ErrorsSent>0].IPv4Address.[AddressingType=="Static"].IPAddress`, kind: Parameter, segs: "NNNENEN"},
	{name: "op <", in: `Device.IP.Interface.[MaxMTUSize<1500].Name`, kind: Parameter},
	{name: "op <=", in: `Device.IP.Interface.[MaxMTUSize<=1500].Name`, kind: Parameter},
	{name: "op >= negative", in: `Device.IP.Interface.[LastChange>=-1].Name`, kind: Parameter},
	{name: "bool true", in: `Device.DSL.Line.[Enable==true].CurrentProfile`, kind: Parameter},
	{name: "bool false", in: `Device.DSL.Line.[Enable==false].CurrentProfile`, kind: Parameter},
	{name: "bool as number", in: `Device.DSL.Line.[Enable==1].CurrentProfile`, kind: Parameter},
	{name: "quoted true is a string", in: `Device.DSL.Line.[Enable=="true"].CurrentProfile`, kind: Parameter},
	{name: "decimal", in: `Device.DeviceInfo.TemperatureStatus.TemperatureSensor.[Value>-1.5].Name`, kind: Parameter},
	{name: "plus sign and leading zero", in: `Device.USB.USBHosts.Host.*.Device.[DeviceClass==08&&Port==+80].`, kind: Object},
	{name: "dateTime", in: `Device.IP.Interface.*.IPv6Address.[ValidLifetime<2021-06-06T08:00:00Z].IPAddress`, kind: Parameter, segs: "NNNWNEN"},
	{name: "dateTime with offset", in: `Device.IP.Interface.*.IPv6Address.[ValidLifetime>=2021-06-06T08:00:00.5+02:00].`, kind: Object},
	{name: "spec example DHCP and Enable", in: `Device.IP.Interface.*.IPv4Address.[AddressingType=="DHCP"&&Enable==true].IPAddress`, kind: Parameter, segs: "NNNWNEN"},

	// String literals.
	{name: "escaped quotes", in: `Device.IP.Interface.[Alias=="say %22hi%22"].`, kind: Object},
	{name: "escaped percent", in: `Device.IP.Interface.[Alias=="100%25"].`, kind: Object},
	{name: "bare percent is escaped", in: `Device.IP.Interface.[Alias=="a%41"].`, kind: Object, want: `Device.IP.Interface.[Alias=="a%2541"].`},
	{name: "brackets and && in string", in: `Device.IP.Interface.[Name=="a]b&&c"].`, kind: Object, segs: "NNNE"},
	{name: "dot in string", in: `Device.IP.Interface.[Name=="a.b"].Enable`, kind: Parameter, segs: "NNNEN"},
	{name: "empty string", in: `Device.IP.Interface.[Name==""].`, kind: Object},
	{name: "utf-8 string", in: `Device.IP.Interface.[Name=="café ☕"].`, kind: Object},

	// Whitespace inside expressions (R-ARC.9a) is tolerated, not kept.
	{name: "spaces around ==", in: `Device.IP.Interface.[Type == "Normal"].Status`, kind: Parameter, want: `Device.IP.Interface.[Type=="Normal"].Status`},
	{name: "spaces everywhere", in: `Device.NAT.PortMapping.[ RemoteHost=="" && ExternalPort == 0 ].`, kind: Object, want: `Device.NAT.PortMapping.[RemoteHost==""&&ExternalPort==0].`},
	{name: "tabs", in: "Device.IP.Interface.[Type\t==\t\"Normal\"].", kind: Object, want: `Device.IP.Interface.[Type=="Normal"].`},
	{name: "spaces with ordered op", in: `Device.IP.Interface.[Stats.ErrorsSent >= 10].`, kind: Object, want: `Device.IP.Interface.[Stats.ErrorsSent>=10].`},

	// Reference following, in expressions and in the path.
	{name: "spec example ref in expression", in: `Device.WiFi.AccessPoint.[SSIDReference+.SSID=="MyHome"].AssociatedDevice.[OperatingStandard=="ac"].SignalStrength`, kind: Parameter, segs: "NNNENEN"},
	{name: "list item ref in expression", in: `Device.WiFi.SSID.[LowerLayers#2+.Name=="wl0"].`, kind: Object, segs: "NNNE"},
	{name: "all items ref in expression", in: `Device.WiFi.SSID.[LowerLayers#*+.Status=="Up"].`, kind: Object, segs: "NNNE"},
	{name: "ref in path", in: "Device.NAT.PortMapping.1.Interface+.Name", kind: Parameter, segs: "NNNIRN"},
	{name: "list item ref in path", in: "Device.WiFi.SSID.1.LowerLayers#1+.Name", kind: Parameter, segs: "NNNIRN"},
	{name: "all items ref in path", in: "Device.WiFi.SSID.*.LowerLayers#*+.Name", kind: Parameter, segs: "NNNWRN"},
	{name: "ref to object", in: "Device.NAT.PortMapping.1.Interface+.", kind: Object, segs: "NNNIR"},
	{name: "ref then sub-object", in: "Device.NAT.PortMapping.1.Interface+.Stats.BytesSent", kind: Parameter, segs: "NNNIRNN"},
	{name: "chained refs", in: "Device.WiFi.AccessPoint.1.SSIDReference+.LowerLayers#*+.Name", kind: Parameter, segs: "NNNIRRN"},

	// Commands and events.
	{name: "command", in: "Device.Reboot()", kind: Command, segs: "NN"},
	{name: "command in instance", in: "Device.DeviceInfo.FirmwareImage.2.Download()", kind: Command, segs: "NNNIN"},
	{name: "command by unique key", in: `Device.IP.Interface.[Name=="eth0"].Reset()`, kind: Command, segs: "NNNEN"},
	{name: "event", in: "Device.Boot!", kind: Event, segs: "NN"},
	{name: "event in object", in: "Device.LocalAgent.Periodic!", kind: Event, segs: "NNN"},
	{name: "event in wildcard instance", in: "Device.LocalAgent.Subscription.*.Expired!", kind: Event, segs: "NNNWN"},

	// Supported data model paths.
	{name: "sdm placeholder", in: "Device.IP.Interface.{i}.", supported: true, kind: Object, segs: "NNNP"},
	{name: "sdm parameter", in: "Device.WiFi.SSID.{i}.Stats.BytesSent", supported: true, kind: Parameter, segs: "NNNPNN"},
	{name: "sdm table without {i}", in: "Device.IP.Interface.", supported: true, kind: Object, segs: "NNN"},
	{name: "sdm instance number", in: "Device.WiFi.SSID.3.Enable", supported: true, kind: Parameter, segs: "NNNIN"},
	{name: "sdm nested placeholders", in: "Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress", supported: true, kind: Parameter, segs: "NNNPNPN"},
	{name: "sdm command", in: "Device.IP.Interface.{i}.Reset()", supported: true, kind: Command, segs: "NNNPN"},
	{name: "sdm event", in: "Device.Boot!", supported: true, kind: Event},
	{name: "sdm root", in: "Device.", supported: true, kind: Object, segs: "N"},

	// Invalid paths.
	{name: "empty", in: "", err: "empty path"},
	{name: "root without dot", in: "Device", err: "unexpected end of path at offset 6"},
	{name: "empty segment", in: "Device..X", err: `unexpected "." at offset 7: empty path segment`},
	{name: "leading dot", in: ".Device.", err: "offset 0"},
	{name: "empty expression", in: "Device.IP.Interface.[].", err: `unexpected "]" at offset 21: empty search expression`},
	{name: "empty expression with space", in: "Device.IP.Interface.[ ].", err: "empty search expression"},
	{name: "missing ]", in: `Device.IP.Interface.[Name=="eth0".`, err: `unexpected "." at offset 33: expected "&&" or "]"`},
	{name: "missing [", in: `Device.IP.Interface.Name=="eth0"].`, err: "outside square brackets"},
	{name: "stray ]", in: "Device.IP.Interface.]", err: `unbalanced "]"`},
	{name: "double ]", in: `Device.IP.Interface.[Name=="eth0"]].`, err: `unbalanced "]"`},
	{name: "placeholder in instantiated path", in: "Device.IP.Interface.{i}.", err: "only allowed in supported data model paths"},
	{name: "curly search", in: `Device.IP.Interface.{Type=="Normal"}.Status`, err: "curly brackets"},
	{name: "leading zero instance", in: "Device.IP.Interface.01.", err: `instance number "01" has a leading zero`},
	{name: "instance zero", in: "Device.IP.Interface.0.", err: "instance number 0 is invalid"},
	{name: "instance too large", in: "Device.IP.Interface.4294967296.", err: "out of range"},
	{name: "negative instance", in: "Device.IP.Interface.-1.", err: "expected a name or an instance identifier"},
	{name: "single =", in: `Device.IP.Interface.[Name="eth0"].`, err: `unknown operator "="`},
	{name: "operator <>", in: `Device.IP.Interface.[Name<>"eth0"].`, err: `unknown operator "<>"`},
	{name: "operator =<", in: `Device.IP.Interface.[Port=<5].`, err: `unknown operator "=<"`},
	{name: "unterminated string", in: `Device.IP.Interface.[Name=="eth0].`, err: "at offset 27: unterminated string literal"},
	{name: "child table in expression", in: `Device.IP.Interface.[Type=="Normal"&&IPv4Address.*.AddressingType=="Static"].Status`, err: "cannot descend into a child table"},
	{name: "instance in expression", in: `Device.IP.Interface.[IPv4Address.1.Enable==true].`, err: "cannot descend into a child table"},
	{name: "garbage after ()", in: "Device.Reboot()x", err: `nothing may follow the "()"`},
	{name: "arguments in ()", in: "Device.Reboot(x)", err: `must be followed by "()"`},
	{name: "garbage after !", in: "Device.Boot!x", err: `nothing may follow the "!"`},
	{name: "command on root", in: "Device()", err: "must start with an object"},
	{name: "space between segments", in: "Device.IP. Interface.", err: "whitespace is only allowed inside search expressions"},
	{name: "space after instance", in: "Device.IP.Interface.1 .Name", err: "whitespace"},
	{name: "trailing space", in: "Device.IP.Interface.1.Name ", err: "whitespace"},
	{name: "wildcard first", in: "*.IP.", err: "must start with an object name"},
	{name: "expression first", in: `[Name=="x"].IP.`, err: "must start with an object name"},
	{name: "instance on root", in: "Device.1.", err: "is not a table"},
	{name: "two instances", in: "Device.IP.Interface.1.2.", err: "not another instance identifier"},
	{name: "instance without dot", in: "Device.IP.Interface.1", err: `must end with "."`},
	{name: "wildcard without dot", in: "Device.IP.Interface.*", err: `must end with "."`},
	{name: "expression without dot", in: `Device.IP.Interface.[Name=="eth0"]`, err: `must end with "."`},
	{name: "double wildcard", in: "Device.IP.Interface.**.", err: `expected "." after the instance identifier`},
	{name: "letters after instance", in: "Device.IP.Interface.1a.", err: `expected "." after the instance identifier`},
	{name: "bad character in name", in: "Device.IP.Inter$face", err: `unexpected "$" at offset 15`},
	{name: "# without number", in: "Device.NAT.PortMapping.1.Interface#+.Name", err: `expected a list item number or "*"`},
	{name: "# without +", in: "Device.NAT.PortMapping.1.Interface#2.Name", err: `expected "+"`},
	{name: "# zero", in: "Device.NAT.PortMapping.1.Interface#0+.Name", err: "list item number 0 is invalid"},
	{name: "+ without dot", in: "Device.NAT.PortMapping.1.Interface+Name", err: `reference following must be followed by "."`},
	{name: "+ at end", in: "Device.NAT.PortMapping.1.Interface+", err: "end of path"},
	{name: "instance after ref", in: "Device.NAT.PortMapping.1.Interface+.1.", err: "already selects an instance"},
	{name: "+ on root", in: "Device+.IP.", err: "must start with an object"},
	{name: "ref at end of expression path", in: `Device.WiFi.SSID.[LowerLayers+=="x"].`, err: `must be followed by "." and a parameter name`},
	{name: "unquoted string", in: `Device.IP.Interface.[Type==Normal].`, err: `unquoted value "Normal"`},
	{name: "ordered op on string", in: `Device.IP.Interface.[Name<"eth0"].`, err: `operator "<" needs a number`},
	{name: "ordered op on bool", in: `Device.IP.Interface.[Enable>=true].`, err: `operator ">=" needs a number`},
	{name: "OR", in: `Device.IP.Interface.[Enable==true||Type=="x"].`, err: "there is no OR"},
	{name: "single &", in: `Device.IP.Interface.[Enable==true&Type=="x"].`, err: `joined with "&&"`},
	{name: "dangling &&", in: `Device.IP.Interface.[Enable==true&&].`, err: `after "&&"`},
	{name: "no parameter", in: `Device.IP.Interface.[==1].`, err: "expected a parameter name"},
	{name: "no operator", in: `Device.IP.Interface.[Enable].`, err: "expected an operator"},
	{name: "no value", in: `Device.IP.Interface.[Enable==].`, err: "expected a value"},
	{name: "nested brackets", in: `Device.IP.Interface.[[Enable==1]].`, err: "cannot descend into a child table"},
	{name: "bad number", in: `Device.IP.Interface.[X==1.].`, err: `invalid number "1."`},
	{name: "lone minus", in: `Device.IP.Interface.[X==-].`, err: `invalid number "-"`},
	{name: "dot at end of relative path", in: `Device.IP.Interface.[Stats.==1].`, err: "expected a parameter name"},
	{name: "expression cut short", in: `Device.IP.Interface.[Name`, err: "unterminated search expression"},
	{name: "expression cut after op", in: `Device.IP.Interface.[Name==`, err: "unterminated search expression"},
	{name: "non-UTF-8", in: "Device.\xff.", err: `unexpected "\xff" at offset 7`},
	{name: "sdm wildcard", in: "Device.IP.Interface.*.", supported: true, err: "wildcards are not allowed"},
	{name: "sdm expression", in: `Device.IP.Interface.[Name=="x"].`, supported: true, err: "search expressions are not allowed"},
	{name: "sdm ref", in: "Device.NAT.PortMapping.{i}.Interface+.Name", supported: true, err: "reference following is not allowed"},
	{name: "sdm bad placeholder", in: "Device.IP.Interface.{j}.", supported: true, err: "curly brackets"},
	{name: "sdm placeholder without dot", in: "Device.IP.Interface.{i}", supported: true, err: `must end with "."`},
	{name: "sdm two placeholders", in: "Device.IP.Interface.{i}.{i}.", supported: true, err: "not another instance identifier"},
}

func parseFor(c parseCase) (*Path, error) {
	if c.supported {
		return ParseSupported(c.in)
	}
	return Parse(c.in)
}

// segCode abbreviates p's segment kinds in the notation of parseCase.segs.
func segCode(p *Path) string {
	var b strings.Builder
	for _, s := range p.Segments {
		switch {
		case s.Kind == SegName && s.Ref != RefNone:
			b.WriteByte('R')
		case s.Kind == SegName:
			b.WriteByte('N')
		case s.Kind == SegInstance:
			b.WriteByte('I')
		case s.Kind == SegWildcard:
			b.WriteByte('W')
		case s.Kind == SegExpr:
			b.WriteByte('E')
		case s.Kind == SegPlaceholder:
			b.WriteByte('P')
		}
	}
	return b.String()
}

func TestParse(t *testing.T) {
	for _, c := range parseCases {
		t.Run(c.name, func(t *testing.T) {
			p, err := parseFor(c)
			if c.err != "" {
				if err == nil {
					t.Fatalf("parse(%q) = %q, want error containing %q", c.in, p, c.err)
				}
				var ue *usperr.Error
				if !errors.As(err, &ue) {
					t.Fatalf("parse(%q) error %T %v is not a *usperr.Error", c.in, err, err)
				}
				if ue.Code != usperr.InvalidPath || ue.Msg == "" || ue.Path != c.in {
					t.Fatalf("parse(%q) error = %+v, want code 7026 with a message and the path", c.in, ue)
				}
				if !strings.Contains(ue.Msg, c.err) {
					t.Fatalf("parse(%q) error message %q does not contain %q", c.in, ue.Msg, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v", c.in, err)
			}
			if p.Kind() != c.kind {
				t.Errorf("Kind() = %v, want %v", p.Kind(), c.kind)
			}
			want := c.want
			if want == "" {
				want = c.in
			}
			if got := p.String(); got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
			if p.Raw() != c.in {
				t.Errorf("Raw() = %q, want %q", p.Raw(), c.in)
			}
			if c.segs != "" {
				if got := segCode(p); got != c.segs {
					t.Errorf("segments = %s, want %s", got, c.segs)
				}
			}
			again, err := parseFor(parseCase{in: p.String(), supported: c.supported})
			if err != nil {
				t.Fatalf("reparsing %q: %v", p.String(), err)
			}
			if !again.Equal(p) || again.String() != p.String() {
				t.Errorf("reparsing %q gave %q, not an equal path", p.String(), again)
			}
		})
	}
}

func TestParsedValues(t *testing.T) {
	tests := []struct {
		in    string
		conds []Cond
		key   bool
	}{
		{`Device.NAT.PortMapping.[RemoteHost==""&&ExternalPort==0&&Protocol=="TCP"].`, []Cond{
			{Path: "RemoteHost", Op: OpEq, Value: "", Kind: String},
			{Path: "ExternalPort", Op: OpEq, Value: "0", Kind: Number},
			{Path: "Protocol", Op: OpEq, Value: "TCP", Kind: String},
		}, true},
		{`Device.IP.Interface.[Alias=="say %22hi%22 100%25"].`, []Cond{{Path: "Alias", Op: OpEq, Value: `say "hi" 100%`, Kind: String}}, true},
		{`Device.DSL.Line.[Enable == true].`, []Cond{{Path: "Enable", Op: OpEq, Value: "true", Kind: Bool}}, true},
		{`Device.IP.Interface.[Stats.ErrorsSent>=-1.5].`, []Cond{{Path: "Stats.ErrorsSent", Op: OpGe, Value: "-1.5", Kind: Number}}, false},
		{`Device.WiFi.SSID.[LowerLayers#*+.Name~="wl0"].`, []Cond{{Path: "LowerLayers#*+.Name", Op: OpContains, Value: "wl0", Kind: String}}, false},
		{`Device.IP.Interface.[Type!="Normal"].`, []Cond{{Path: "Type", Op: OpNe, Value: "Normal", Kind: String}}, false},
		{`Device.IP.Interface.*.IPv6Address.[ValidLifetime<2021-06-06T08:00:00Z].`, []Cond{{Path: "ValidLifetime", Op: OpLt, Value: "2021-06-06T08:00:00Z", Kind: DateTime}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var e *Expr
			for _, s := range p.Segments {
				if s.Kind == SegExpr {
					e = s.Expr
				}
			}
			if e == nil || !e.Equal(&Expr{Conds: tt.conds}) {
				t.Fatalf("expression = %+v, want %+v", e, tt.conds)
			}
			if e.IsUniqueKey() != tt.key {
				t.Errorf("IsUniqueKey() = %v, want %v", e.IsUniqueKey(), tt.key)
			}
		})
	}
}

func TestRefFollowSegments(t *testing.T) {
	tests := []struct {
		in   string
		ref  RefFollow
		refN int
	}{
		{"Device.NAT.PortMapping.1.Interface+.Name", RefFirst, 0},
		{"Device.WiFi.SSID.1.LowerLayers#2+.Name", RefNth, 2},
		{"Device.WiFi.SSID.1.LowerLayers#*+.Name", RefAll, 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			s := p.Segments[4]
			if s.Ref != tt.ref || s.RefN != tt.refN || !p.HasRef() {
				t.Errorf("segment 4 = %+v, want Ref %v RefN %d", s, tt.ref, tt.refN)
			}
		})
	}
}
