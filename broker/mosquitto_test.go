package broker

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"cuttle/broker/creds"
)

// TestMosquittoClients runs a subset of the attack matrix with Debian's
// mosquitto_pub and mosquitto_sub, a second MQTT 5 implementation. CI sets
// CUTTLE_REQUIRE_MOSQUITTO=1 so a missing client fails instead of skipping.
func TestMosquittoClients(t *testing.T) {
	if _, err := exec.LookPath("mosquitto_sub"); err != nil {
		if os.Getenv("CUTTLE_REQUIRE_MOSQUITTO") != "" {
			t.Fatal("mosquitto_sub not found and CUTTLE_REQUIRE_MOSQUITTO is set")
		}
		t.Skip("mosquitto-clients not installed")
	}
	e := startEnv(t, func(c *Config) { c.Lockout.MaxFailures = 1000 })
	secA := e.addCred(creds.RoleDevice, devA, "")
	secB := e.addCred(creds.RoleDevice, devB, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	host, port := splitAddr(t, e.b.Addr("tcp"))
	base := []string{"-V", "5", "-h", host, "-p", port}
	run := func(name string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, append(append([]string{}, base...), args...)...).CombinedOutput()
		return string(out), err
	}

	cases := []struct {
		name string
		cmd  string
		args []string
		want string // expected in the output
	}{
		{"wrong password", "mosquitto_sub", []string{"-u", devA, "-P", "nope", "-t", "usp/v1/agent/" + devA, "-C", "1", "-W", "3"}, "Bad User Name or Password"},
		{"anonymous", "mosquitto_sub", []string{"-t", "#", "-C", "1", "-W", "3"}, "Not authorized"},
		{"subscribe #", "mosquitto_sub", []string{"-u", devA, "-P", secA, "-t", "#", "-C", "1", "-W", "3"}, "All subscription requests were denied"},
		{"subscribe other inbox", "mosquitto_sub", []string{"-u", devA, "-P", secA, "-t", "usp/v1/agent/" + devB, "-C", "1", "-W", "3"}, "All subscription requests were denied"},
		{"client id takeover", "mosquitto_sub", []string{"-u", devB, "-P", secB, "-i", devA, "-t", "usp/v1/agent/" + devB, "-C", "1", "-W", "3"}, "Client identifier not valid"},
		{"publish to other device", "mosquitto_pub", []string{"-u", devA, "-P", secA, "-t", "usp/v1/agent/" + devB, "-m", "x", "-q", "1"}, "Not authorized"},
		{"retained publish", "mosquitto_pub", []string{"-u", ctlC, "-P", secC, "-t", "usp/v1/agent/" + devA, "-m", "x", "-q", "1", "-r"}, "Not authorized"},
		{"unparsable record", "mosquitto_pub", []string{"-u", devA, "-P", secA, "-t", "usp/v1/controller/" + ctlC, "-m", "not a record", "-q", "1"}, "Payload format invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, _ := run(c.cmd, c.args...)
			if !strings.Contains(strings.ToLower(out), strings.ToLower(c.want)) {
				t.Errorf("output %q lacks %q", out, c.want)
			}
		})
	}

	// The happy path: a controller's request reaches the device's inbox.
	sub := exec.Command("mosquitto_sub", append(append([]string{}, base...), "-u", devA, "-P", secA, "-t", "usp/v1/agent/"+devA, "-C", "1", "-W", "5")...)
	var subOut strings.Builder
	sub.Stdout = &subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	e.waitFor(func() bool {
		return e.b.server.Topics.Subscribers("usp/v1/agent/" + devA).Subscriptions[devA].Filter != ""
	}, "mosquitto_sub to subscribe")
	if out, err := run("mosquitto_pub", "-u", ctlC, "-P", secC, "-t", "usp/v1/agent/"+devA, "-m", "hello-device", "-q", "1"); err != nil {
		t.Fatalf("controller publish: %v %s", err, out)
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
	if !strings.Contains(subOut.String(), "hello-device") {
		t.Errorf("device got %q", subOut.String())
	}
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}
