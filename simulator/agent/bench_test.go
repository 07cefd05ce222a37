package agent

import (
	"runtime"
	"testing"
	"time"

	"cuttle/simulator/profile"
	"cuttle/usp"
)

func benchAgent(b *testing.B, p *profile.Profile, clock Clock, i int) *Agent {
	a, err := New(Config{
		EndpointID:  p.EndpointID(i),
		Profile:     p,
		Index:       i,
		Controllers: []Controller{{EndpointID: "self::cuttle", Topic: "usp/v1/controller/cuttle"}},
		Clock:       clock,
	})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkNewAgent reports the heap each agent of the busiest built-in
// profile keeps (bytes/agent, over 1,000 agents): what decides how many
// devices fit in one process.
func BenchmarkNewAgent(b *testing.B) {
	for _, name := range profile.Names() {
		b.Run(name, func(b *testing.B) {
			p, err := profile.Builtin(name)
			if err != nil {
				b.Fatal(err)
			}
			clock := &fakeClock{t: epoch}
			const n = 1000
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				agents := make([]*Agent, n)
				for i := range agents {
					agents[i] = benchAgent(b, p, clock, i)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/agent")
				runtime.KeepAlive(agents)
			}
		})
	}
}

// BenchmarkGetDeviceInfo is the typical Controller read: all of
// Device.DeviceInfo. with its firmware images.
func BenchmarkGetDeviceInfo(b *testing.B) {
	p, _ := profile.Builtin(profile.DefaultName)
	a := benchAgent(b, p, &fakeClock{t: epoch}, 1)
	msg := usp.Message{ID: "bench", Body: usp.NewGet(0, "Device.DeviceInfo.")}
	for b.Loop() {
		if _, ok := a.Handle("self::cuttle", msg).(*usp.GetResp); !ok {
			b.Fatal("not a GetResp")
		}
	}
}

// BenchmarkGetSearch is a search over hosts, the heaviest common read.
func BenchmarkGetSearch(b *testing.B) {
	p, _ := profile.Builtin(profile.DefaultName)
	a := benchAgent(b, p, &fakeClock{t: epoch}, 1)
	msg := usp.Message{ID: "bench", Body: usp.NewGet(0, `Device.Hosts.Host.[Active==true&&InterfaceType=="Wi-Fi"].HostName`)}
	for b.Loop() {
		a.Handle("self::cuttle", msg)
	}
}

// BenchmarkTick is one device's simulated second with no subscriptions:
// the idle cost of a simulated fleet is about this times devices per second.
func BenchmarkTick(b *testing.B) {
	p, _ := profile.Builtin(profile.DefaultName)
	clock := &fakeClock{t: epoch}
	a := benchAgent(b, p, clock, 1)
	for b.Loop() {
		a.Tick(clock.advance(time.Second))
	}
}
