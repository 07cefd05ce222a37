package acl

import "testing"

func TestRules(t *testing.T) {
	r := New("usp/v1", func(eid string) bool { return eid == "self::ctl" || eid == "self::ctl2" })
	dev := Subject{Role: RoleDevice, EndpointID: "os::012345-A"}
	ctl := Subject{Role: RoleController, EndpointID: "self::ctl"}
	admin := Subject{Role: RoleAdmin}
	none := Subject{}
	cases := []struct {
		name  string
		s     Subject
		write bool
		topic string
		want  bool
	}{
		{"device reads own inbox", dev, false, "usp/v1/agent/os::012345-A", true},
		{"device reads other inbox", dev, false, "usp/v1/agent/os::012345-B", false},
		{"device reads inbox prefix", dev, false, "usp/v1/agent/os::012345-A/x", false},
		{"device reads inbox prefix of longer id", dev, false, "usp/v1/agent/os::012345-AB", false},
		{"device #", dev, false, "#", false},
		{"device +", dev, false, "+", false},
		{"device agent wildcard", dev, false, "usp/v1/agent/#", false},
		{"device agent plus", dev, false, "usp/v1/agent/+", false},
		{"device shared own inbox", dev, false, "$share/x/usp/v1/agent/os::012345-A", false},
		{"device shared other inbox", dev, false, "$share/x/usp/v1/agent/os::012345-B", false},
		{"device $SYS", dev, false, "$SYS/#", false},
		{"device reads controller inbox", dev, false, "usp/v1/controller/self::ctl", false},
		{"device writes existing controller", dev, true, "usp/v1/controller/self::ctl", true},
		{"device writes second controller", dev, true, "usp/v1/controller/self::ctl2", true},
		{"device writes unknown controller", dev, true, "usp/v1/controller/self::nope", false},
		{"device writes controller subtopic", dev, true, "usp/v1/controller/self::ctl/x", false},
		{"device writes other device", dev, true, "usp/v1/agent/os::012345-B", false},
		{"device writes own inbox", dev, true, "usp/v1/agent/os::012345-A", false},
		{"device writes empty controller", dev, true, "usp/v1/controller/", false},
		{"device writes other prefix", dev, true, "usp/v2/controller/self::ctl", false},
		{"device without endpoint", Subject{Role: RoleDevice}, false, "usp/v1/agent/", false},
		{"controller reads own inbox", ctl, false, "usp/v1/controller/self::ctl", true},
		{"controller shared own inbox", ctl, false, "$share/replicas/usp/v1/controller/self::ctl", true},
		{"controller shared empty group", ctl, false, "$share//usp/v1/controller/self::ctl", false},
		{"controller shared other inbox", ctl, false, "$share/g/usp/v1/controller/self::ctl2", false},
		{"controller reads other controller", ctl, false, "usp/v1/controller/self::ctl2", false},
		{"controller reads device inbox", ctl, false, "usp/v1/agent/os::012345-A", false},
		{"controller reads #", ctl, false, "#", false},
		{"controller writes device", ctl, true, "usp/v1/agent/os::012345-A", true},
		{"controller writes agent wildcard", ctl, true, "usp/v1/agent/+", false},
		{"controller writes agent subtopic", ctl, true, "usp/v1/agent/a/b", false},
		{"controller writes controller", ctl, true, "usp/v1/controller/self::ctl2", false},
		{"admin reads #", admin, false, "#", true},
		{"admin writes anything", admin, true, "x/y", true},
		{"nobody reads", none, false, "usp/v1/agent/os::012345-A", false},
		{"nobody writes", none, true, "usp/v1/controller/self::ctl", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got bool
			if c.write {
				got = r.CanWrite(c.s, c.topic)
			} else {
				got = r.CanRead(c.s, c.topic)
			}
			if got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
	if r.MayRetain(dev) || r.MayRetain(ctl) || !r.MayRetain(admin) {
		t.Error("MayRetain wrong")
	}
	if r.Inbox(dev) != "usp/v1/agent/os::012345-A" || r.Inbox(ctl) != "usp/v1/controller/self::ctl" || r.Inbox(admin) != "" {
		t.Error("Inbox wrong")
	}
	if New("", nil).AgentTopic("x") != "usp/v1/agent/x" || New("a/b/", nil).ControllerTopic("c") != "a/b/controller/c" {
		t.Error("prefix handling wrong")
	}
}

// BenchmarkCanReadDelivery is the per-delivery ACL cost: Mochi asks on every
// message delivered to every subscriber.
func BenchmarkCanReadDelivery(b *testing.B) {
	r := New("usp/v1", func(string) bool { return true })
	s := Subject{Role: RoleDevice, EndpointID: "os::012345-SIM000001"}
	topic := "usp/v1/agent/os::012345-SIM000001"
	b.ReportAllocs()
	for b.Loop() {
		if !r.CanRead(s, topic) {
			b.Fatal("denied")
		}
	}
}

// BenchmarkCanWriteDevice is the cost of checking a device publish,
// including the controller-exists lookup in a 1,000-entry map.
func BenchmarkCanWriteDevice(b *testing.B) {
	ctls := map[string]bool{}
	for i := range 1000 {
		ctls["self::ctl-"+string(rune('a'+i%26))+string(rune('a'+i/26%26))] = true
	}
	ctls["self::cuttle-controller"] = true
	r := New("usp/v1", func(eid string) bool { return ctls[eid] })
	s := Subject{Role: RoleDevice, EndpointID: "os::012345-SIM000001"}
	b.ReportAllocs()
	for b.Loop() {
		if !r.CanWrite(s, "usp/v1/controller/self::cuttle-controller") {
			b.Fatal("denied")
		}
	}
}
