package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cuttle/broker"
	"cuttle/broker/creds"
	"cuttle/controller/events"
	"cuttle/controller/mqttmtp"
	"cuttle/devices/inventory"
	"cuttle/internal/testutil"
	"cuttle/internal/testutil/brokertest"
	"cuttle/internal/testutil/credstest"
	"cuttle/simulator/fleet"
	"cuttle/usp"
)

const ctlEID = "self::cuttle-controller"

// stack is NATS, the broker, the controller and a fleet of simulated
// devices, all real, on 127.0.0.1.
type stack struct {
	t     *testing.T
	store *creds.Store
	ctl   *Controller
	eids  []string
}

func startStack(t *testing.T, devices int) *stack {
	t.Helper()
	cs := credstest.Start(t, creds.MirrorConfig{})
	js, store, mirror := cs.JS, cs.Store, cs.Mirror
	ctx := t.Context()
	b := brokertest.Run(t, broker.Config{
		Listeners:   []broker.ListenerConfig{{Name: "tcp", Addr: "127.0.0.1:0"}},
		Credentials: mirror, Presence: brokertest.Presence(t, js),
	})
	url := "mqtt://" + b.Addr("tcp")

	_, ctlSecret, err := store.Add(ctx, creds.AddRequest{Role: creds.RoleController, EndpointID: ctlEID})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, store: store}
	var devs []fleet.DeviceConfig
	for i := range devices {
		eid := fmt.Sprintf("os::00D09E-CTL%05d", i+1)
		_, secret, err := store.Add(ctx, creds.AddRequest{Role: creds.RoleDevice, EndpointID: eid})
		if err != nil {
			t.Fatal(err)
		}
		devs = append(devs, fleet.DeviceConfig{EndpointID: eid, Secret: secret})
		s.eids = append(s.eids, eid)
	}
	testutil.Eventually(t, 20*time.Second, "credentials in the broker's mirror", func() bool {
		_, ok := mirror.Lookup(s.eids[len(s.eids)-1])
		return ok && mirror.HasController(ctlEID)
	})

	s.ctl, err = New(ctx, Config{
		MTP:            mqttmtp.Config{Brokers: []string{url}, Username: ctlEID, Password: ctlSecret, Timeout: 10 * time.Second},
		JetStream:      js,
		RequestTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "controller", 15*time.Second, s.ctl.Run)
	<-s.ctl.MTP().Ready()

	f, err := fleet.New(fleet.Config{Brokers: []string{url}, Devices: devs, Rate: 1000, BootDelay: 200 * time.Millisecond, TickInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "fleet", 15*time.Second, f.Run)
	return s
}

// TestDevicesJoinTheInventory: devices that connect are online in the
// inventory with their DeviceInfo, get the default subscriptions, and a
// reboot brings a Boot! into the event log and the inventory.
func TestDevicesJoinTheInventory(t *testing.T) {
	s := startStack(t, 5)
	inv := s.ctl.Inventory()
	testutil.Eventually(t, 20*time.Second, "5 devices online, described and subscribed", func() bool {
		n := 0
		for _, eid := range s.eids {
			d, ok := inv.Get(eid)
			if ok && d.Status == inventory.StatusOnline && d.Model != "" && d.SoftwareVersion != "" && d.Subscribed {
				n++
			}
		}
		return n == len(s.eids)
	})
	d, _ := inv.Get(s.eids[0])
	if d.Manufacturer == "" || d.SerialNumber == "" || d.ReplyTopic != "usp/v1/agent/"+s.eids[0] {
		t.Errorf("device %+v", d)
	}

	// The default subscriptions exist on the device.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.ctl.MTP().Get(ctx, s.eids[0], usp.NewGet(0, "Device.LocalAgent.Subscription.*.ID"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, v := range resp.Values() {
		ids[v] = true
	}
	for _, sub := range DefaultSubscriptions {
		if !ids[sub.ID] {
			t.Errorf("subscription %s missing on the device: %v", sub.ID, ids)
		}
	}

	// A reboot: the device comes back with Boot!, which is logged, answered
	// and recorded.
	if _, err := s.ctl.MTP().Operate(ctx, s.eids[0], usp.NewOperate("Device.Reboot()", "reboot-1", true, nil)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "a Boot! in the inventory", func() bool {
		d, _ := inv.Get(s.eids[0])
		return d.Boot != nil && d.Boot.CommandKey == "reboot-1" && d.Boot.Cause == usp.CauseRemoteReboot
	})
	evs, err := s.ctl.Events().Query(ctx, events.Filter{EndpointID: s.eids[0], Types: []string{events.TypeBoot}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[len(evs)-1].Data["CommandKey"] != "reboot-1" {
		t.Errorf("boot events %+v", evs)
	}

	// The device's online history: online from its first connection,
	// offline for the reboot (its DisconnectRecord), online again.
	var spells []string
	testutil.Eventually(t, 20*time.Second, "online, offline, online in the event log", func() bool {
		evs, err := s.ctl.Events().Query(ctx, events.Filter{EndpointID: s.eids[0], Types: []string{events.TypeOnline, events.TypeOffline}})
		if err != nil {
			t.Fatal(err)
		}
		spells = spells[:0]
		for _, e := range evs {
			spells = append(spells, e.Type)
		}
		return fmt.Sprint(spells) == "[online offline online]"
	})
	if evs, _ := s.ctl.Events().Query(ctx, events.Filter{EndpointID: s.eids[0], Types: []string{events.TypeOnline}}); evs[0].Data["reply_topic"] != "usp/v1/agent/"+s.eids[0] {
		t.Errorf("online event %+v", evs[0])
	}
}

// TestRevokedDeviceGoesOffline: removing a device's credential disconnects
// it (broker) and the inventory shows it offline (presence).
func TestRevokedDeviceGoesOffline(t *testing.T) {
	s := startStack(t, 2)
	inv := s.ctl.Inventory()
	testutil.Eventually(t, 20*time.Second, "devices online", func() bool {
		a, _ := inv.Get(s.eids[0])
		b, _ := inv.Get(s.eids[1])
		return a.Status == inventory.StatusOnline && b.Status == inventory.StatusOnline
	})
	if err := s.store.Remove(context.Background(), s.eids[0]); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the revoked device offline", func() bool {
		d, _ := inv.Get(s.eids[0])
		return d.Status == inventory.StatusOffline
	})
	if d, _ := inv.Get(s.eids[1]); d.Status != inventory.StatusOnline {
		t.Errorf("the other device is %s", d.Status)
	}
}

// TestTwoHundredDevices boots 200 simulated devices and waits until the
// inventory lists every one online with its DeviceInfo and subscriptions.
func TestTwoHundredDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("200 devices")
	}
	s := startStack(t, 200)
	inv := s.ctl.Inventory()
	testutil.Eventually(t, 20*time.Second, "200 devices online and described", func() bool {
		page, err := inv.Query(inventory.Query{Status: inventory.StatusOnline, Limit: 1})
		if err != nil || page.Total != 200 {
			return false
		}
		for _, eid := range s.eids {
			if d, _ := inv.Get(eid); d.Model == "" || !d.Subscribed {
				return false
			}
		}
		return true
	})
	if st := inv.Stats(); st.Online != 200 {
		t.Errorf("stats %+v", st)
	}
}
