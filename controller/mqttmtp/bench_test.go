package mqttmtp

import (
	"context"
	"errors"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/usp"
)

// The two round-trip benchmarks measure the same thing through the same
// broker with the same device connection: BenchmarkGetRoundTrip a USP Get
// through the Client (encode, publish, match, decode), and
// BenchmarkRawMQTTRoundTrip a bare MQTT 5 request/response of the same
// sizes between a controller session and that device, which only echoes
// bytes: the floor. Both run one request at a time and report p50, p99
// and the CPU time of the whole process (controller, broker and device)
// per round trip besides ns/op. Run them together:
//
//	go test -run '^$' -bench 'RoundTrip' -benchtime 3000x ./controller/mqttmtp/

const benchPath = "Device.DeviceInfo."

func BenchmarkGetRoundTrip(b *testing.B) {
	e := startEnv(b, nil)
	d := startFleet(e, "bench", 1, fleetOpts{})[0]
	c := e.startClient(nil)
	get := usp.NewGet(0, benchPath)
	ctx := context.Background()
	measure(b, func() error {
		_, err := c.Get(ctx, d.eid, get)
		return err
	})
}

func BenchmarkRawMQTTRoundTrip(b *testing.B) {
	e := startEnv(b, nil)
	// The same bytes as the USP round trip, encoded once.
	d := startFleet(e, "bench", 1, fleetOpts{rawReply: record(b, "self::dev-bench-0", d0GetResp())})[0]
	req := record(b, ctlEID, usp.NewGet(0, benchPath))

	conn, err := net.Dial("tcp", e.addr())
	if err != nil {
		b.Fatal(err)
	}
	in := make(chan *paho.Publish, 1)
	cli := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { in <- pr.Packet; return true, nil },
	}})
	ctx := ctxTimeout(b, time.Hour)
	if _, err := cli.Connect(ctx, &paho.Connect{
		KeepAlive: 30, CleanStart: true,
		Username: ctlEID, UsernameFlag: true, Password: []byte(e.ctlSecret), PasswordFlag: true,
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cli.Disconnect(&paho.Disconnect{}) })
	inbox := "usp/v1/controller/" + ctlEID
	if _, err := cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: inbox, QoS: 1}}}); err != nil {
		b.Fatal(err)
	}
	_, devInbox := d.client()
	ids := usp.NewIDGen("")
	measure(b, func() error {
		id := []byte(ids.Next())
		if _, err := cli.Publish(ctx, &paho.Publish{Topic: devInbox, QoS: 1, Payload: req, Properties: &paho.PublishProperties{
			ResponseTopic: inbox, CorrelationData: id, ContentType: rawContentType,
		}}); err != nil {
			return err
		}
		select {
		case p := <-in:
			if string(p.Properties.CorrelationData) != string(id) {
				return errors.New("answer to another request")
			}
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("no answer")
		}
	})
}

// d0GetResp is what the responder answers to the benchmark's Get.
func d0GetResp() *usp.GetResp {
	return (&device{eid: "self::dev-bench-0"}).getResp(usp.NewGet(0, benchPath))
}

// record encodes body in a Record from from (the controller or the
// benchmark's device) to the other.
func record(tb testing.TB, from string, body usp.Body) []byte {
	to := "self::dev-bench-0"
	if from != ctlEID {
		to = ctlEID
	}
	rec, err := usp.NewMsgRecord(from, to, usp.NewMsgID(), body)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := rec.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// measure calls op once per b.Loop iteration, failing the benchmark on
// its error, and reports the round trips' latency and CPU time as
// reportPercentiles does.
func measure(b *testing.B, op func() error) {
	var lat []time.Duration
	cpu0 := cpuTime(b)
	for b.Loop() {
		start := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat, cpu0)
}

// reportPercentiles reports the p50 and p99 of lat, and the CPU time
// used since cpu0 (see cpuTime) per round trip.
func reportPercentiles(b *testing.B, lat []time.Duration, cpu0 time.Duration) {
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(len(lat)), "cpu-µs/op")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
