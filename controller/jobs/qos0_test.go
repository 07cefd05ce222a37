package jobs

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"cuttle/broker"
)

// TestBulkGetQoS0Fleet: devices that publish their Records at QoS 0
// (obuspa's default) all answer a bulk Get sent to every one of them at
// once, through a broker whose outbound queue to the controller is far
// smaller than the burst of answers. The broker used to drop the QoS 0
// answers that did not fit that queue, and the job counted those devices
// as failed.
func TestBulkGetQoS0Fleet(t *testing.T) {
	const n = 150
	s := startStackWith(t, n, func(c *broker.Config) { c.MaxPendingWrites = 8 })
	s.fleetQoS = new(byte(0))
	s.startFleet(s.eids)
	m, _ := s.startManager(Config{})
	j, err := m.Create(context.Background(), Spec{
		Operation:   OpGet,
		Request:     json.RawMessage(`{"paths":["Device.DeviceInfo."]}`),
		Selector:    &Selector{},
		Concurrency: n,
	}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	j = await(t, m, j.ID, 2*time.Minute)
	if j.State != StateCompleted || j.Succeeded != n {
		t.Fatalf("job ended %s with %d of %d devices answering: %+v", j.State, j.Succeeded, n, j.Counts)
	}
}
