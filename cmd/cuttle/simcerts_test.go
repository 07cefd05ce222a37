package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cuttle/broker"
	"cuttle/broker/certs"
	"cuttle/broker/creds"
	"cuttle/internal/testpki"
	"cuttle/internal/testutil/brokertest"
	"cuttle/internal/testutil/credstest"
	"cuttle/simulator/fleet"
)

// TestSimOverMTLS runs `cuttle sim --tls-client-certs` against a broker
// whose TLS listener accepts client certificates only, with a certificate
// per device named after its endpoint ID, as deploy/tls/make-certs.sh
// writes them for the Compose stack.
func TestSimOverMTLS(t *testing.T) {
	cs := credstest.Start(t, creds.MirrorConfig{})
	store, ctx := cs.Store, t.Context()
	ca := testpki.NewCA(t, "sim test CA")
	dir := t.TempDir()
	caFile := ca.WriteCert(t, dir)
	serverCert, serverKey := testpki.WriteFiles(t, dir, ca.Server(t))
	certDir := filepath.Join(dir, "devices")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, eid := range []string{"os::00D09E-TLS000001", "os::00D09E-TLS000002"} {
		_, secret, err := store.Add(ctx, creds.AddRequest{Role: creds.RoleDevice, EndpointID: eid})
		if err != nil {
			t.Fatal(err)
		}
		// The secret is in the file, but the listener checks only the
		// certificate: a device with a wrong secret still gets in.
		lines = append(lines, eid+","+eid+",not-"+secret)
		p := ca.Client(t, testpki.ClientOpts{CN: eid})
		testpki.WriteAtomic(t, filepath.Join(certDir, eid+".crt"), p.CertPEM)
		testpki.WriteAtomic(t, filepath.Join(certDir, eid+".key"), p.KeyPEM)
	}
	if _, _, err := store.Add(ctx, creds.AddRequest{Role: creds.RoleController, EndpointID: "self::sim-test"}); err != nil {
		t.Fatal(err)
	}

	b := brokertest.Run(t, broker.Config{
		Listeners: []broker.ListenerConfig{{
			Name: "tls", Type: broker.ListenerTLS, Addr: "127.0.0.1:0", Auth: broker.AuthCert, IdentityFrom: certs.IdentityCN,
			TLS: certs.Config{CertFile: serverCert, KeyFile: serverKey, ClientCAFile: caFile},
		}},
		Credentials: cs.Mirror,
	})

	file := writeSimFile(t, strings.Join(lines, "\n")+"\n")
	runSimUntil(t, []string{"--credentials", file, "--broker", "mqtts://" + b.Addr("tls"), "--tls-ca", caFile,
		"--tls-client-certs", certDir, "--controller", "self::sim-test", "--status-interval", "50ms",
		"--rate", "100/s", "--log-level", "warn"}, "connected 2/2")
}

func TestLoadSimClientCertsMissing(t *testing.T) {
	devs := []fleet.DeviceConfig{{EndpointID: "os::00D09E-TLS000009"}}
	err := loadSimClientCerts(t.TempDir(), devs)
	if err == nil || !strings.Contains(err.Error(), "--tls-client-certs: os::00D09E-TLS000009") {
		t.Fatalf("error %v, want one naming the device", err)
	}
}
