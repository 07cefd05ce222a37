package mqttmtp

import (
	"strings"
	"testing"
	"time"

	"cuttle/broker"
	"cuttle/controller/traffic"
	"cuttle/internal/testutil"
	"cuttle/usp"
)

// TestTrafficRecordsFailedPublish sends a Set whose Record is larger than
// the broker accepts: the broker drops the connection, the request fails,
// and the traffic inspector lists the Record twice, as handed to the MQTT
// client and again with the reason it was not sent.
func TestTrafficRecordsFailedPublish(t *testing.T) {
	e := startEnv(t, func(cfg *broker.Config) { cfg.MaxPacketSize = 8 << 10 })
	d := startFleet(e, "big", 1, fleetOpts{})[0]
	rec := traffic.New(traffic.Config{Size: 100})
	c := e.startClient(func(cfg *Config) { cfg.Traffic = rec })

	set := usp.NewSet(false, usp.SetObject{Path: "Device.DeviceInfo.", Params: []usp.Param{
		{Name: "ProvisioningCode", Value: strings.Repeat("x", 16<<10)},
	}})
	if _, err := c.Set(testutil.Context(t, 10*time.Second), d.eid, set); err == nil {
		t.Fatal("a Set larger than the broker's maximum packet size succeeded")
	}
	var handed, failed []traffic.Message
	for _, en := range rec.Query(traffic.Filter{EndpointID: d.eid}) {
		m := en.Message()
		if m.Direction != traffic.Out || m.MsgType != "SET" {
			continue
		}
		if m.PublishError == "" {
			handed = append(handed, m)
		} else {
			failed = append(failed, m)
		}
	}
	if len(handed) != 1 || len(failed) != 1 {
		t.Fatalf("recorded %d SETs as handed over and %d as failed, want 1 and 1", len(handed), len(failed))
	}
	if failed[0].MsgID != handed[0].MsgID || failed[0].ID <= handed[0].ID || failed[0].Error != "" {
		t.Errorf("failed publish recorded as %+v (handed over as %d, %s)", failed[0], handed[0].ID, handed[0].MsgID)
	}
	t.Logf("publish error: %s", failed[0].PublishError)
}
