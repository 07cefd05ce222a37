package main

import (
	"crypto/tls"
	"fmt"
	"path/filepath"

	"cuttle/simulator/fleet"
)

// loadSimClientCerts gives each device the client certificate named after
// its endpoint ID in dir (<endpoint ID>.crt with <endpoint ID>.key, as
// deploy/tls/make-certs.sh writes them), presented on mqtts:// and wss://
// connections. A device without its pair is an error: a fleet that half
// connects over mTLS would hide a provisioning mistake.
func loadSimClientCerts(dir string, devs []fleet.DeviceConfig) error {
	for i := range devs {
		base := filepath.Join(dir, devs[i].EndpointID)
		cert, err := tls.LoadX509KeyPair(base+".crt", base+".key")
		if err != nil {
			return fmt.Errorf("--tls-client-certs: %s: %w", devs[i].EndpointID, err)
		}
		devs[i].ClientCert = &cert
	}
	return nil
}
