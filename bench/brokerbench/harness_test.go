package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"cuttle/broker"
	"cuttle/broker/creds"
)

// TestScenariosAgainstCuttle runs every scenario, small, against Cuttle's
// broker with every check on and with security off: every Record must
// arrive, and the broker must find every from_id genuine.
func TestScenariosAgainstCuttle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS and two brokers")
	}
	log := slog.New(slog.DiscardHandler)
	env, err := startCreds(t.Context(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.close)
	ctl := []identity{{eid: controllerID}}
	devs := []identity{{eid: deviceID(0)}, {eid: deviceID(1)}, {eid: deviceID(2)}}
	if err := env.provision(t.Context(), creds.RoleController, ctl); err != nil {
		t.Fatal(err)
	}
	if err := env.provision(t.Context(), creds.RoleDevice, devs); err != nil {
		t.Fatal(err)
	}
	r := &runner{ctl: ctl[0], devices: devs, log: log,
		load: load{devices: len(devs), perDevice: 4, lanes: 2, ctlLanes: 2, settle: 2 * time.Second, timeout: 20 * time.Second}}
	for _, auth := range []string{broker.AuthPassword, broker.AuthAnonymous} {
		t.Run(auth, func(t *testing.T) {
			tg, err := startCuttle("secure", "cuttle "+auth, auth, env.mirror, 20, limits{}, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := tg.stop(); err != nil {
					t.Error(err)
				}
			})
			if err := waitReady(t.Context(), tg, ctl[0]); err != nil {
				t.Fatal(err)
			}
			s, err := r.connect(t.Context(), tg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			for _, sc := range scenarios {
				res := r.run(t.Context(), s, sc)
				if f := check(res); len(f) > 0 {
					t.Fatalf("%s: %v", sc, f)
				}
				if res.lost() != 0 || res.tally.p99 <= 0 || res.rate() <= 0 {
					t.Errorf("%s: lost %d, p99 %v, rate %.0f", sc, res.lost(), res.tally.p99, res.rate())
				}
			}
			if got := tg.counters()["queue_drops"]; got != 0 {
				t.Errorf("broker dropped %v messages", got)
			}
		})
	}
}

func TestCheckFlagsQoS1Loss(t *testing.T) {
	tg := &target{name: "x"}
	lossy := result{target: tg, scenario: scenario{fanIn: true, qos: 1}, expected: 10, tally: tallyResult{unique: 9}}
	if f := check(lossy); len(f) != 1 || !strings.Contains(f[0], "lost 1 of 10 QoS 1 Records") {
		t.Errorf("check(lossy QoS 1) = %q", f)
	}
	lossy.scenario.qos = 0
	if f := check(lossy); len(f) != 0 {
		t.Errorf("check(lossy QoS 0) = %q, want no failure: QoS 0 may drop", f)
	}
}
