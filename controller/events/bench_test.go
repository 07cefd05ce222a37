package events

import (
	"testing"
)

// BenchmarkPublish measures storing one notification, acknowledged, which
// the controller does for every Notify a device sends.
func BenchmarkPublish(b *testing.B) {
	l, _ := newLog(b)
	ctx := testCtx(b)
	e := Event{EndpointID: dev1, Type: TypeValueChange, Path: "Device.DeviceInfo.UpTime", Data: map[string]string{"value": "42"}}
	for b.Loop() {
		if _, err := l.Publish(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryDeviceDesc measures "the last 100 events of one device" in
// a stream where most events belong to other devices.
func BenchmarkQueryDeviceDesc(b *testing.B) {
	l, js := newLog(b)
	for range 10 {
		publishMany(b, l, js, dev2, TypeValueChange, 1000)
		publishMany(b, l, js, dev1, TypeValueChange, 20)
	}
	ctx := testCtx(b)
	for b.Loop() {
		got, err := l.Query(ctx, Filter{EndpointID: dev1, Desc: true})
		if err != nil || len(got) != 100 {
			b.Fatalf("Query: %d events, %v", len(got), err)
		}
	}
}
