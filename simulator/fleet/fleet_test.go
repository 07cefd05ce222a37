package fleet

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/broker"
	"cuttle/internal/testutil"
	"cuttle/simulator/profile"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

const prefix = "os::00D09E-TST"

// subscribe creates an enabled subscription on device eid.
func (tc *controller) subscribe(eid, id, notifType, refs string, more ...usp.Param) {
	tc.t.Helper()
	params := append([]usp.Param{
		{Name: "Enable", Value: "true"}, {Name: "ID", Value: id},
		{Name: "NotifType", Value: notifType}, {Name: "ReferenceList", Value: refs},
	}, more...)
	r := tc.do(eid, usp.NewAdd(false, usp.AddObject{Path: "Device.LocalAgent.Subscription.", Params: params}))
	if resp, ok := r.msg.Body.(*usp.AddResp); !ok || resp.Err() != nil {
		tc.t.Fatalf("subscribe %s: %#v", id, r.msg.Body)
	}
}

// errorCode returns the code of an Error message, or 0.
func errorCode(r received) usperr.Code {
	if e, ok := r.msg.Body.(*usp.ErrorMsg); ok {
		return e.Err.Code
	}
	return 0
}

func TestDeviceServesController(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	e := startEnv(t, nil)
	ctrl := e.controller(testCtrl)
	devs := e.provision(prefix, 1)
	eid := devs[0].EndpointID
	f := e.startFleet(devs, nil)
	inbox := "usp/v1/agent/" + eid

	// R-MTP.6: the mqtt_connect Record comes first, naming the CONNACK topic.
	r := ctrl.next(10*time.Second, "mqtt_connect", func(r received) bool { return r.rec.Kind == usp.KindMQTTConnect })
	if r.rec.FromID != eid || r.rec.ToID != testCtrl || r.rec.MQTTConnect.Version != usp.MQTTv5 ||
		r.rec.MQTTConnect.SubscribedTopic != inbox || r.props.ContentType != "usp.msg" || r.props.ResponseTopic != inbox {
		t.Fatalf("mqtt_connect: %+v %+v %+v", r.rec.RecordHeader, r.rec.MQTTConnect, r.props)
	}
	waitConnected(t, f, 1, 5*time.Second)
	d := f.devices[0]
	d.mu.Lock()
	clientID := d.clientID
	d.mu.Unlock()
	if clientID != eid {
		t.Errorf("persisted client ID %q, want the one the broker assigned, %q (R-MQTT.9)", clientID, eid)
	}

	t.Run("get", func(t *testing.T) {
		r := ctrl.do(eid, usp.NewGet(0, "Device.DeviceInfo.SerialNumber", "Device.DeviceInfo.Nope"))
		resp, ok := r.msg.Body.(*usp.GetResp)
		if !ok || len(resp.Results) != 2 {
			t.Fatalf("Get: %#v", r.msg.Body)
		}
		if v := resp.Values()["Device.DeviceInfo.SerialNumber"]; v != f.cfg.Profile.Serial(1) {
			t.Errorf("SerialNumber %q, want %q", v, f.cfg.Profile.Serial(1))
		}
		if err := resp.Results[1].Err; err == nil || err.Code != usperr.InvalidPath {
			t.Errorf("unknown parameter: %v, want 7026", err)
		}
		// Replies go to the request's Response Topic, as USP Records.
		if r.topic != ctrl.inbox || r.rec.FromID != eid || r.rec.ToID != testCtrl ||
			r.props.ContentType != "usp.msg" || r.props.ResponseTopic != inbox {
			t.Errorf("reply: topic %s, %+v, %+v", r.topic, r.rec.RecordHeader, r.props)
		}
	})
	t.Run("correlation data", func(t *testing.T) {
		id := usp.NewMsgID()
		ch := ctrl.expect(id)
		ctrl.publish(eid, ctrl.record(testCtrl, eid, id, usp.NewGet(0, "Device.DeviceInfo.UpTime")),
			&paho.PublishProperties{ContentType: "application/vnd.bbf.usp.msg", ResponseTopic: ctrl.inbox, CorrelationData: []byte("c-42")})
		select {
		case r := <-ch:
			if !bytes.Equal(r.props.CorrelationData, []byte("c-42")) {
				t.Errorf("correlation data %q", r.props.CorrelationData)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no answer to a request with the legacy content type")
		}
	})
	t.Run("set read-only", func(t *testing.T) {
		r := ctrl.do(eid, usp.NewSet(false, usp.SetObject{Path: "Device.DeviceInfo.", Params: []usp.Param{{Name: "Manufacturer", Value: "x", Required: true}}}))
		em, ok := r.msg.Body.(*usp.ErrorMsg)
		if !ok || em.Err.Code != usperr.RequiredParamFailed || len(em.Err.Params) != 1 || em.Err.Params[0].Code != usperr.ParamReadOnly {
			t.Fatalf("Set of a read-only parameter: %#v", r.msg.Body)
		}
	})
	t.Run("set and add", func(t *testing.T) {
		r := ctrl.do(eid, usp.NewSet(false, usp.SetObject{Path: "Device.DeviceInfo.", Params: []usp.Param{{Name: "ProvisioningCode", Value: "lab-7", Required: true}}}))
		if resp, ok := r.msg.Body.(*usp.SetResp); !ok || resp.Err() != nil {
			t.Fatalf("Set: %#v", r.msg.Body)
		}
		r = ctrl.do(eid, usp.NewAdd(false, usp.AddObject{Path: "Device.DeviceInfo."}))
		if errorCode(r) != usperr.ObjectNotATable {
			t.Errorf("Add on a single object: %#v, want 7018", r.msg.Body)
		}
		r = ctrl.do(eid, usp.NewAdd(false, usp.AddObject{Path: "Device.IP.Interface.", Params: []usp.Param{{Name: "Alias", Value: "lab"}}}))
		resp, ok := r.msg.Body.(*usp.AddResp)
		if !ok || resp.Err() != nil || resp.Results[0].InstantiatedPath != "Device.IP.Interface.4." {
			t.Fatalf("Add: %#v", r.msg.Body)
		}
		r = ctrl.do(eid, usp.NewDelete(false, "Device.IP.Interface.4.", "Device.IP.Interface.99."))
		dr, ok := r.msg.Body.(*usp.DeleteResp)
		if !ok || dr.Err() != nil || !slices.Equal(dr.Results[0].Affected, []string{"Device.IP.Interface.4."}) || len(dr.Results[1].Affected) != 0 {
			t.Fatalf("Delete: %#v", r.msg.Body)
		}
	})
	t.Run("operate", func(t *testing.T) {
		if r := ctrl.do(eid, usp.NewOperate("Device.NoSuch()", "", true, nil)); errorCode(r) != usperr.InvalidPath {
			t.Errorf("unknown command: %#v, want 7026", r.msg.Body)
		}
		r := ctrl.do(eid, usp.NewOperate("Device.DeviceInfo.FirmwareImage.2.Download()", "k", true, map[string]string{"AutoActivate": "false"}))
		resp, ok := r.msg.Body.(*usp.OperateResp)
		if !ok || len(resp.Results) != 1 || resp.Results[0].Err == nil || resp.Results[0].Err.Code != usperr.InvalidCommandArguments {
			t.Errorf("Download without URL: %#v, want cmd_failure 7027", r.msg.Body)
		}
	})
	t.Run("supported dm, instances, protocol", func(t *testing.T) {
		r := ctrl.do(eid, &usp.GetSupportedDM{Paths: []string{"Device.DeviceInfo."}, FirstLevelOnly: true, ReturnParams: true, ReturnCommands: true})
		sdm, ok := r.msg.Body.(*usp.GetSupportedDMResp)
		if !ok || len(sdm.Results) != 1 || sdm.Results[0].Err != nil || sdm.Results[0].DataModelURI == "" || len(sdm.Results[0].Objects) == 0 {
			t.Errorf("GetSupportedDM: %#v", r.msg.Body)
		}
		r = ctrl.do(eid, usp.NewGetInstances(true, "Device.WiFi.Radio.", "Device.DeviceInfo."))
		gi, ok := r.msg.Body.(*usp.GetInstancesResp)
		if !ok || len(gi.Results) != 2 || len(gi.Results[0].Instances) != len(f.cfg.Profile.Radios) ||
			gi.Results[1].Err == nil || gi.Results[1].Err.Code != usperr.ObjectNotATable {
			t.Errorf("GetInstances: %#v", r.msg.Body)
		}
		r = ctrl.do(eid, usp.NewGetSupportedProtocol("1.3", "1.4"))
		if p, ok := r.msg.Body.(*usp.GetSupportedProtocolResp); !ok || !slices.Contains(p.Versions, "1.4") {
			t.Errorf("GetSupportedProtocol: %#v", r.msg.Body)
		}
	})
	// The device counts a response after publishing it, so the last one
	// may reach the controller first.
	testutil.EventuallyOK(t, 10*time.Second, func() string {
		if s := f.Stats(); s.Requests < 12 || s.Responses < 12 {
			return fmt.Sprintf("stats %+v, want 12 requests and responses", s)
		}
		return ""
	})
	if s := f.Stats(); s.Ignored() != 0 {
		t.Errorf("stats: %+v", s)
	}
}

func TestIgnoresForeignRecords(t *testing.T) {
	e := startEnv(t, nil)
	ctrl := e.controller(testCtrl)
	devs := e.provision(prefix, 1)
	eid := devs[0].EndpointID
	f := e.startFleet(devs, nil)
	waitConnected(t, f, 1, 10*time.Second)

	get := usp.NewGet(0, "Device.DeviceInfo.UpTime")
	silent := func(name string, payload func(id string) []byte, props *paho.PublishProperties) chan received {
		t.Helper()
		id := name + "-" + usp.NewMsgID()
		ch := ctrl.expect(id)
		ctrl.publish(eid, payload(id), props)
		return ch
	}
	var waits []chan received
	// R-E2E.1: another to_id; an unknown sender; the device's own endpoint ID.
	waits = append(waits, silent("to", func(id string) []byte { return ctrl.record(testCtrl, "os::00D09E-OTHER", id, get) }, nil))
	waits = append(waits, silent("from", func(id string) []byte { return ctrl.record("self::intruder", eid, id, get) }, nil))
	waits = append(waits, silent("self", func(id string) []byte { return ctrl.record(eid, eid, id, get) }, nil))
	waits = append(waits, silent("ctype", func(id string) []byte { return ctrl.record(testCtrl, eid, id, get) },
		&paho.PublishProperties{ContentType: "application/json", ResponseTopic: ctrl.inbox}))
	ctrl.publish(eid, []byte("not a record"), nil)

	// R-MTP.5: a bad Record (unsupported version) holding a request from a
	// known Controller is answered with the Record error code.
	id := usp.NewMsgID()
	payload, err := usp.MarshalMsg(id, get)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := (&usp.Record{RecordHeader: usp.RecordHeader{Version: "9.9", FromID: testCtrl, ToID: eid, Kind: usp.KindMsg}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ch := ctrl.expect(id)
	ctrl.publish(eid, bad, nil)
	select {
	case r := <-ch:
		if errorCode(r) != usperr.InvalidRecordValue {
			t.Errorf("bad Record answered with %#v, want Error 7104", r.msg.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bad Record not answered (R-MTP.5)")
	}

	want := map[string]uint64{"to_id": 1, "unknown_from_id": 2, "content_type": 1, "unparsable": 1, "bad_record": 1}
	testutil.Eventually(t, 5*time.Second, "ignored records counted", func() bool {
		got := f.Stats().RecordsIgnored
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	})
	for _, ch := range waits {
		select {
		case r := <-ch:
			t.Errorf("ignored Record answered: %#v", r.msg.Body)
		default:
		}
	}
	// The device still serves its Controller.
	if r := ctrl.do(eid, get); r.msg.Body.MsgType() != usp.MsgType(2) {
		t.Errorf("Get after the noise: %#v", r.msg.Body)
	}
}

func TestNotificationsAndRetries(t *testing.T) {
	e := startEnv(t, nil)
	ctrl := e.controller(testCtrl)
	devs := e.provision(prefix, 1)
	eid := devs[0].EndpointID
	f := e.startFleet(devs, nil)
	waitConnected(t, f, 1, 10*time.Second)

	// ValueChange on UpTime, driven by the shared ticker.
	ctrl.subscribe(eid, "vc-up", "ValueChange", "Device.DeviceInfo.UpTime")
	ctrl.next(5*time.Second, "ValueChange of UpTime", notifyFrom(eid, func(n *usp.Notify) bool {
		vc, ok := n.Notification.(*usp.ValueChange)
		return ok && n.SubscriptionID == "vc-up" && vc.Path == "Device.DeviceInfo.UpTime" && !n.SendResp
	}))
	ctrl.do(eid, usp.NewDelete(false, `Device.LocalAgent.Subscription.[ID=="vc-up"].`))

	// A subscription with NotifRetry: the Notify is resent with the same
	// msg_id until a NotifyResp comes.
	ctrl.do(eid, usp.NewSet(false, usp.SetObject{Path: "Device.LocalAgent.Controller.1.",
		Params: []usp.Param{{Name: "USPNotifRetryMinimumWaitInterval", Value: "1", Required: true}}}))
	ctrl.subscribe(eid, "vc-pc", "ValueChange", "Device.DeviceInfo.ProvisioningCode", usp.Param{Name: "NotifRetry", Value: "true"})
	ctrl.do(eid, usp.NewSet(false, usp.SetObject{Path: "Device.DeviceInfo.", Params: []usp.Param{{Name: "ProvisioningCode", Value: "p-1", Required: true}}}))
	isPC := notifyFrom(eid, func(n *usp.Notify) bool { return n.SubscriptionID == "vc-pc" && n.SendResp })
	first := ctrl.next(5*time.Second, "ValueChange of ProvisioningCode", isPC)
	again := ctrl.next(5*time.Second, "the retry", isPC)
	if again.msg.ID != first.msg.ID {
		t.Fatalf("retry has msg_id %q, want %q", again.msg.ID, first.msg.ID)
	}
	ctrl.publish(eid, ctrl.record(testCtrl, eid, first.msg.ID, usp.NewNotifyResp("vc-pc")), nil)
	a := f.Agent(eid)
	testutil.Eventually(t, 5*time.Second, "NotifyResp honoured", func() bool { return a.PendingNotifies() == 0 })
	if s := f.Stats(); s.Notifications < 3 {
		t.Errorf("stats: %+v", s)
	}
}

// startDownloader starts the env, the test Controller and one device whose
// firmware downloads take a second, and waits until the device is
// connected.
func startDownloader(t *testing.T) (ctrl *controller, eid string) {
	t.Helper()
	e := startEnv(t, nil)
	ctrl = e.controller(testCtrl)
	devs := e.provision(prefix, 1)
	p, err := profile.Builtin(profile.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	p.DownloadSeconds = 1
	f := e.startFleet(devs, func(c *Config) { c.Profile = p })
	waitConnected(t, f, 1, 10*time.Second)
	return ctrl, devs[0].EndpointID
}

func TestDownloadCompletes(t *testing.T) {
	ctrl, eid := startDownloader(t)

	ctrl.subscribe(eid, "oc", "OperationComplete", "Device.DeviceInfo.FirmwareImage.")
	r := ctrl.do(eid, usp.NewOperate("Device.DeviceInfo.FirmwareImage.2.Download()", "dl-1", true,
		map[string]string{"URL": "https://fw.example.com/cl-hg4000-4.3.0.bin", "AutoActivate": "false"}))
	resp, ok := r.msg.Body.(*usp.OperateResp)
	if !ok || len(resp.Results) != 1 || !resp.Results[0].Async() {
		t.Fatalf("Download: %#v", r.msg.Body)
	}
	n := ctrl.next(10*time.Second, "OperationComplete", notifyFrom(eid, func(n *usp.Notify) bool {
		_, ok := n.Notification.(*usp.OperationComplete)
		return ok
	}))
	oc := n.msg.Body.(*usp.Notify).Notification.(*usp.OperationComplete)
	if oc.ObjPath != "Device.DeviceInfo.FirmwareImage.2." || oc.Command != "Download()" || oc.CommandKey != "dl-1" || oc.Err != nil {
		t.Errorf("OperationComplete: %+v", oc)
	}
	if v := ctrl.do(eid, usp.NewGet(0, "Device.DeviceInfo.FirmwareImage.2.Version")).msg.Body.(*usp.GetResp).Values(); v["Device.DeviceInfo.FirmwareImage.2.Version"] != "4.3.0" {
		t.Errorf("image 2 after the download: %v", v)
	}
}

func TestRebootCycle(t *testing.T) {
	e := startEnv(t, nil)
	ctrl := e.controller(testCtrl)
	devs := e.provision(prefix, 1)
	eid := devs[0].EndpointID
	f := e.startFleet(devs, nil)
	waitConnected(t, f, 1, 10*time.Second)
	ctrl.next(5*time.Second, "mqtt_connect", func(r received) bool { return r.rec.Kind == usp.KindMQTTConnect })

	ctrl.subscribe(eid, "boot", "Event", "Device.Boot!", usp.Param{Name: "Persistent", Value: "true"})
	r := ctrl.do(eid, usp.NewOperate("Device.Reboot()", "rb-1", true, nil))
	if resp, ok := r.msg.Body.(*usp.OperateResp); !ok || resp.Err() != nil {
		t.Fatalf("Reboot(): %#v", r.msg.Body)
	}
	// Offline with a DisconnectRecord (R-MTP.7), back with a Connect Record
	// (R-MTP.6), then Boot!.
	ctrl.next(5*time.Second, "DisconnectRecord", func(r received) bool { return r.rec.Kind == usp.KindDisconnect && r.rec.FromID == eid })
	ctrl.next(10*time.Second, "mqtt_connect after the reboot", func(r received) bool { return r.rec.Kind == usp.KindMQTTConnect && r.rec.FromID == eid })
	n := ctrl.next(5*time.Second, "Boot!", notifyFrom(eid, func(n *usp.Notify) bool {
		ev, ok := n.Notification.(*usp.Event)
		return ok && ev.IsBoot()
	}))
	boot, err := n.msg.Body.(*usp.Notify).Notification.(*usp.Event).Boot()
	if err != nil {
		t.Fatal(err)
	}
	if boot.Cause != usp.CauseRemoteReboot || boot.CommandKey != "rb-1" {
		t.Errorf("Boot!: %+v", boot)
	}
	if s := f.Stats(); s.Reboots != 1 || s.Connects != 2 || s.Connected != 1 {
		t.Errorf("stats after the reboot: %+v", s)
	}
}

func TestReconnectAfterBrokerRestart(t *testing.T) {
	e := startEnv(t, func(c *broker.Config) { c.Listeners[0].Addr = testutil.RestartableAddr(t) })
	e.controller(testCtrl)
	const n = 20
	devs := e.provision(prefix, n)
	f := e.startFleet(devs, nil)
	waitConnected(t, f, n, 10*time.Second)

	e.restartBroker()
	testutil.Eventually(t, 20*time.Second, "devices back after the restart", func() bool {
		s := f.Stats()
		return s.Connected == n && s.Connects >= 2*n
	})
	if s := f.Stats(); s.Disconnects < n {
		t.Errorf("stats: %+v", s)
	}
	ctrl := e.controller(testCtrl)
	eid := devs[n/2].EndpointID
	if r := ctrl.do(eid, usp.NewGet(0, "Device.DeviceInfo.SerialNumber")); r.rec.FromID != eid {
		t.Errorf("answer after the restart: %+v", r.rec.RecordHeader)
	}
}

// TestAutoActivateReboots covers a reboot the simulation asks for (not a
// request): a Download with AutoActivate ends, the device reboots into the
// new image and says so in Boot!.
func TestAutoActivateReboots(t *testing.T) {
	ctrl, eid := startDownloader(t)

	ctrl.subscribe(eid, "boot", "Event", "Device.Boot!", usp.Param{Name: "Persistent", Value: "true"})
	r := ctrl.do(eid, usp.NewOperate("Device.DeviceInfo.FirmwareImage.2.Download()", "fw-9", true,
		map[string]string{"URL": "https://fw.example.com/cl-hg4000-9.9.9.bin", "AutoActivate": "true"}))
	if resp, ok := r.msg.Body.(*usp.OperateResp); !ok || len(resp.Results) != 1 || !resp.Results[0].Async() {
		t.Fatalf("Download: %#v", r.msg.Body)
	}
	n := ctrl.next(15*time.Second, "Boot! after the activation", notifyFrom(eid, func(n *usp.Notify) bool {
		ev, ok := n.Notification.(*usp.Event)
		return ok && ev.IsBoot()
	}))
	boot, err := n.msg.Body.(*usp.Notify).Notification.(*usp.Event).Boot()
	if err != nil {
		t.Fatal(err)
	}
	if boot.Cause != usp.CauseRemoteReboot || boot.CommandKey != "fw-9" || !boot.FirmwareUpdated {
		t.Errorf("Boot!: %+v", boot)
	}
	if v := ctrl.do(eid, usp.NewGet(0, "Device.DeviceInfo.SoftwareVersion")).msg.Body.(*usp.GetResp).Values(); v["Device.DeviceInfo.SoftwareVersion"] != "9.9.9" {
		t.Errorf("after the activation: %v", v)
	}
}
