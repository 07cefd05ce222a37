package mqttmtp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/broker/creds"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// The test responder: fake USP agents on raw paho connections. Each
// answers the controller's requests by the path it names:
//
//	Device.Silent.…      no answer (timeouts)
//	Device.Late.…        answered after fleetOpts.late (late answers)
//	Device.Hold.…        held until two are held, then answered in reverse order
//	Device.WrongType.…   answered with a SetResp
//	Device.Malformed.…   answered with a Record whose Msg cannot be decoded
//	Set of …ReadOnly…    an Error 7013 (ParamReadOnly) with param_errs
//	anything else        a GetResp whose parameters echo the device's endpoint
//	                     ID and the requested path, after a random delay
//
// Every PUBLISH it receives is checked for the properties of the binding;
// violations fail the test at cleanup.

// rawContentType marks the raw MQTT round trip of BenchmarkRawMQTTRoundTrip:
// the device answers with the fixed bytes of fleetOpts.rawReply, decoding
// and encoding nothing. (They must be a Record from the device: the broker
// checks the header of everything a device publishes.)
const rawContentType = "application/octet-stream"

type fleetOpts struct {
	maxDelay time.Duration // random delay before each ordinary answer
	late     time.Duration // delay of Device.Late. answers
	rawReply []byte        // the answer to raw requests
}

type device struct {
	tb     testing.TB
	e      *env
	eid    string
	secret string
	opts   fleetOpts

	ctx    context.Context // ends at cleanup: delayed answers give up
	cancel context.CancelFunc
	wg     sync.WaitGroup // delayed answers

	mu     sync.Mutex // guards the fields below
	cli    *paho.Client
	inbox  string
	held   []*paho.Publish // Device.Hold. requests
	errs   []string        // property violations
	seen   []*paho.Publish // every request received
	others []*paho.Publish // everything else received (NotifyResp…)

	requests atomic.Int64
	answers  atomic.Int64 // publishes acknowledged by the broker
}

// startFleet provisions and connects n devices named self::dev-<prefix>-<i>.
func startFleet(e *env, prefix string, n int, opts fleetOpts) []*device {
	e.tb.Helper()
	devs := make([]*device, n)
	for i := range devs {
		d := &device{tb: e.tb, e: e, eid: fmt.Sprintf("self::dev-%s-%d", prefix, i), opts: opts}
		d.secret = e.addCred(creds.RoleDevice, d.eid, "")
		d.ctx, d.cancel = context.WithCancel(context.Background())
		d.connect()
		e.tb.Cleanup(d.close)
		devs[i] = d
	}
	return devs
}

// connect connects (again, after a broker restart) and subscribes to the
// inbox the broker names in CONNACK.
func (d *device) connect() {
	d.tb.Helper()
	conn, err := net.Dial("tcp", d.e.addr())
	if err != nil {
		d.tb.Fatal(err)
	}
	cli := paho.NewClient(paho.ClientConfig{
		Conn:              conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){d.onPublish},
		OnServerDisconnect: func(p *paho.Disconnect) {
			if p.ReasonCode != 0x8B { // server shutting down: tests restart brokers
				d.violation("broker disconnected the device: 0x%02x", p.ReasonCode)
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := cli.Connect(ctx, &paho.Connect{
		KeepAlive: 30, CleanStart: true,
		Username: d.eid, UsernameFlag: true, Password: []byte(d.secret), PasswordFlag: true,
		Properties: &paho.ConnectProperties{
			RequestResponseInfo: true,
			User:                paho.UserProperties{{Key: "usp-endpoint-id", Value: d.eid}},
		},
	})
	if err != nil {
		d.tb.Fatalf("device %s connect: %v", d.eid, err)
	}
	inbox := ca.Properties.ResponseInfo
	if inbox == "" {
		d.tb.Fatalf("device %s: no Response Information in CONNACK", d.eid)
	}
	if sa, err := cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: inbox, QoS: 1}}}); err != nil || sa.Reasons[0] != 1 {
		d.tb.Fatalf("device %s subscribe: %v %v", d.eid, err, sa)
	}
	d.mu.Lock()
	d.cli, d.inbox = cli, inbox
	d.mu.Unlock()
}

func (d *device) close() {
	d.cancel()
	d.wg.Wait()
	d.mu.Lock()
	cli, errs := d.cli, d.errs
	d.mu.Unlock()
	_ = cli.Disconnect(&paho.Disconnect{})
	for _, e := range errs[:min(len(errs), 5)] {
		d.tb.Errorf("device %s: %s", d.eid, e)
	}
}

func (d *device) client() (*paho.Client, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cli, d.inbox
}

func (d *device) violation(format string, args ...any) {
	d.mu.Lock()
	d.errs = append(d.errs, fmt.Sprintf(format, args...))
	d.mu.Unlock()
}

// onPublish runs on the device's read loop; answers are published from
// their own goroutines so that the loop never waits for a PUBACK.
func (d *device) onPublish(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	if p.Properties != nil && p.Properties.ContentType == rawContentType {
		d.wg.Go(func() {
			d.publish(p.Properties.ResponseTopic, d.opts.rawReply, rawContentType, p.Properties.CorrelationData)
		})
		return true, nil
	}
	rec, err := usp.ParseRecord(p.Payload)
	if err != nil {
		d.violation("unparsable record: %v", err)
		return true, nil
	}
	m, err := rec.Message()
	if err != nil {
		d.violation("unparsable msg: %v", err)
		return true, nil
	}
	if !m.IsRequest() {
		d.mu.Lock()
		d.others = append(d.others, p)
		d.mu.Unlock()
		d.checkProps(p, rec, m)
		return true, nil
	}
	d.requests.Add(1)
	d.mu.Lock()
	d.seen = append(d.seen, p)
	d.mu.Unlock()
	d.checkProps(p, rec, m)
	d.answer(p, m)
	return true, nil
}

// checkProps checks what every PUBLISH from the controller must carry.
func (d *device) checkProps(p *paho.Publish, rec *usp.Record, m usp.Message) {
	pp := p.Properties
	_, inbox := d.client()
	switch {
	case pp == nil:
		d.violation("%s: no properties", m.ID)
	case pp.ResponseTopic != "usp/v1/controller/"+ctlEID:
		d.violation("%s: Response Topic %q", m.ID, pp.ResponseTopic)
	case pp.ContentType != "usp.msg":
		d.violation("%s: Content Type %q", m.ID, pp.ContentType)
	case pp.User.Get("usp-endpoint-id") != ctlEID:
		d.violation("%s: usp-endpoint-id %q", m.ID, pp.User.Get("usp-endpoint-id"))
	case pp.User.Get("usp-msg-type") != m.Type().String():
		d.violation("%s: usp-msg-type %q for a %v", m.ID, pp.User.Get("usp-msg-type"), m.Type())
	case m.IsRequest() && string(pp.CorrelationData) != m.ID:
		d.violation("%s: Correlation Data %q", m.ID, pp.CorrelationData)
	case rec.FromID != ctlEID || rec.ToID != d.eid:
		d.violation("%s: from_id %q to_id %q", m.ID, rec.FromID, rec.ToID)
	case p.Topic != inbox:
		d.violation("%s: published on %q", m.ID, p.Topic)
	case p.QoS != 1:
		d.violation("%s: QoS %d", m.ID, p.QoS)
	}
}

func (d *device) answer(p *paho.Publish, m usp.Message) {
	to, corr := p.Properties.ResponseTopic, p.Properties.CorrelationData
	reply := func(b usp.Body) { d.wg.Go(func() { d.publishMsg(to, m.ID, b, corr) }) }
	switch req := m.Body.(type) {
	case *usp.Get:
		path := req.Paths[0]
		switch {
		case strings.HasPrefix(path, "Device.Silent."):
		case strings.HasPrefix(path, "Device.Late."):
			d.later(d.opts.late, func() { d.publishMsg(to, m.ID, d.getResp(req), corr) })
		case strings.HasPrefix(path, "Device.Hold."):
			d.mu.Lock()
			d.held = append(d.held, p)
			held := d.held
			if len(held) == 2 {
				d.held = nil
			}
			d.mu.Unlock()
			if len(held) == 2 {
				d.wg.Go(func() {
					for _, h := range []*paho.Publish{held[1], held[0]} {
						rec, _ := usp.ParseRecord(h.Payload)
						hm, _ := rec.Message()
						d.publishMsg(h.Properties.ResponseTopic, hm.ID, d.getResp(hm.Body.(*usp.Get)), h.Properties.CorrelationData)
					}
				})
			}
		case strings.HasPrefix(path, "Device.WrongType."):
			reply(&usp.SetResp{})
		case strings.HasPrefix(path, "Device.Malformed."):
			d.wg.Go(func() { d.publishMalformedMsg(to, m.ID) })
		default:
			d.later(d.randomDelay(), func() { d.publishMsg(to, m.ID, d.getResp(req), corr) })
		}
	case *usp.Set:
		obj := req.Objects[0]
		if strings.Contains(obj.Path, "ReadOnly") {
			e := usperr.New(usperr.ParamReadOnly, "read-only")
			e.Params = []*usperr.Error{usperr.AtPath(usperr.ParamReadOnly, obj.Path+obj.Params[0].Name, "not writable")}
			reply(&usp.ErrorMsg{Err: e})
			return
		}
		reply(&usp.SetResp{Results: []usp.SetResult{{RequestedPath: obj.Path, Updated: []usp.UpdatedInstance{{Path: obj.Path}}}}})
	case *usp.Add:
		reply(&usp.AddResp{Results: []usp.AddResult{{RequestedPath: req.Objects[0].Path, InstantiatedPath: req.Objects[0].Path + "7."}}})
	case *usp.Delete:
		reply(&usp.DeleteResp{Results: []usp.DeleteResult{{RequestedPath: req.Paths[0], Affected: req.Paths}}})
	case *usp.Operate:
		if !req.SendResp {
			return
		}
		reply(&usp.OperateResp{Results: []usp.OperateResult{{Command: req.Command, Output: map[string]string{"EndpointID": d.eid}}}})
	case *usp.GetInstances:
		reply(&usp.GetInstancesResp{Results: []usp.InstancesResult{{RequestedPath: req.Paths[0], Instances: []usp.Instance{{Path: req.Paths[0] + "1."}}}}})
	case *usp.GetSupportedDM:
		reply(&usp.GetSupportedDMResp{Results: []usp.SupportedDMResult{{RequestedPath: req.Paths[0]}}})
	case *usp.GetSupportedProtocol:
		reply(&usp.GetSupportedProtocolResp{Versions: []string{"1.3", "1.4"}})
	default:
		reply(usp.NewErrorMsg(usperr.New(usperr.MessageNotSupported, "not in the test responder")))
	}
}

// getResp echoes the device's endpoint ID and the requested path, so that
// an answer delivered to the wrong request is detected.
func (d *device) getResp(g *usp.Get) *usp.GetResp {
	path := g.Paths[0]
	return &usp.GetResp{Results: []usp.GetResult{{
		RequestedPath: path,
		Resolved:      []usp.ResolvedPath{{Path: path, Params: map[string]string{"EndpointID": d.eid, "Path": path}}},
	}}}
}

func (d *device) randomDelay() time.Duration {
	if d.opts.maxDelay <= 0 {
		return 0
	}
	return rand.N(d.opts.maxDelay)
}

// later runs f after delay on a goroutine the device owns.
func (d *device) later(delay time.Duration, f func()) {
	d.wg.Go(func() {
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-d.ctx.Done():
				return
			}
		}
		f()
	})
}

// publishMsg sends a Msg to the controller as an agent does: Response
// Topic = its inbox, Correlation Data echoed.
func (d *device) publishMsg(topic, id string, b usp.Body, corr []byte) {
	rec, err := usp.NewMsgRecord(d.eid, ctlEID, id, b)
	if err != nil {
		d.violation("encoding: %v", err)
		return
	}
	payload, err := rec.Marshal()
	if err != nil {
		d.violation("encoding: %v", err)
		return
	}
	d.publish(topic, payload, "usp.msg", corr)
}

// publishMalformedMsg sends a Record the broker accepts (its header is
// valid) whose Msg has a msg_id but no body.
func (d *device) publishMalformedMsg(topic, id string) {
	msg := append([]byte{0x0a, byte(len(id) + 2), 0x0a, byte(len(id))}, id...) // header{msg_id}
	d.publish(topic, d.record(ctlEID, "1.3", msg), "usp.msg", nil)
}

// record hand-encodes a no_session_context Record, so that tests can send
// what usp.Record.Marshal refuses to build.
func (d *device) record(to, version string, payload []byte) []byte {
	var b []byte
	field := func(num byte, v []byte) {
		b = append(b, num<<3|2)
		b = appendVarint(b, len(v))
		b = append(b, v...)
	}
	field(1, []byte(version))
	field(2, []byte(to))
	field(3, []byte(d.eid))
	nsc := append([]byte{2<<3 | 2}, appendVarint(nil, len(payload))...)
	field(7, append(nsc, payload...))
	return b
}

func appendVarint(b []byte, n int) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

func (d *device) publish(topic string, payload []byte, contentType string, corr []byte) {
	cli, inbox := d.client()
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	_, err := cli.Publish(ctx, &paho.Publish{
		Topic: topic, QoS: 1, Payload: payload,
		Properties: &paho.PublishProperties{ResponseTopic: inbox, ContentType: contentType, CorrelationData: corr},
	})
	if err != nil && d.ctx.Err() == nil {
		d.violation("publish to %s: %v", topic, err)
	}
	if err == nil {
		d.answers.Add(1)
	}
}

// notify sends a Notify to the controller and returns its msg_id.
func (d *device) notify(sendResp bool, n usp.Notification) string {
	id := "notify-" + d.eid + "-" + strconv.Itoa(rand.N(1<<30))
	d.publishMsg("usp/v1/controller/"+ctlEID, id, usp.NewNotify("sub-1", sendResp, n), []byte("corr-"+id))
	return id
}

// sendRecord publishes a raw Record to the controller.
func (d *device) sendRecord(payload []byte) {
	d.publish("usp/v1/controller/"+ctlEID, payload, "usp.msg", nil)
}

// received returns the non-request Records the device got.
func (d *device) received() []*paho.Publish {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*paho.Publish(nil), d.others...)
}

// requestsSeen returns the requests the device got.
func (d *device) requestsSeen() []*paho.Publish {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*paho.Publish(nil), d.seen...)
}

// decodeMsg decodes the Msg of a received PUBLISH.
func decodeMsg(tb testing.TB, p *paho.Publish) usp.Message {
	tb.Helper()
	rec, err := usp.ParseRecord(p.Payload)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := rec.Message()
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
