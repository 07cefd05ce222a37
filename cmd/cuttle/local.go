package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
)

// localNATSFile is where `cuttle up` keeps the address and credentials of
// its embedded NATS server, so the CLI on the same machine finds it with no
// flags. Only the owner may read it.
const localNATSFile = "nats.json"

// localNATS is the content of localNATSFile.
type localNATS struct {
	URL      string `json:"url"`
	User     string `json:"user"`
	Password string `json:"password"`
}

// loadOrCreateLocalNATS reads dataDir/nats.json, or creates it with a new
// random password (mode 0600) on first start. url is where the embedded
// server will listen.
func loadOrCreateLocalNATS(dataDir, url string) (localNATS, error) {
	name := filepath.Join(dataDir, localNATSFile)
	if l, err := readLocalNATS(dataDir); err == nil {
		l.URL = url
		return l, writeLocalNATS(name, l)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return localNATS{}, err
	}
	secret := make([]byte, 24)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	l := localNATS{URL: url, User: "cuttle", Password: base64.RawURLEncoding.EncodeToString(secret)}
	return l, writeLocalNATS(name, l)
}

func writeLocalNATS(name string, l localNATS) error {
	b, _ := json.MarshalIndent(l, "", "  ") // plain strings always marshal
	if err := os.WriteFile(name, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	// WriteFile keeps the mode of an existing file; make sure it is private.
	return os.Chmod(name, 0o600)
}

// readLocalNATS reads the credentials a local `cuttle up` left in dataDir.
func readLocalNATS(dataDir string) (localNATS, error) {
	var l localNATS
	b, err := os.ReadFile(filepath.Join(dataDir, localNATSFile))
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("reading %s: %w", filepath.Join(dataDir, localNATSFile), err)
	}
	return l, nil
}

// loopbackAddr turns a listener address such as "[::]:1883" or ":1883" into
// one this machine can dial.
func loopbackAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// localControllerSecret returns the broker credentials of `cuttle up`'s own
// controller, provisioning them on first start and keeping the secret in
// dataDir/controller.json (mode 0600). A lost file means a new secret.
func localControllerSecret(ctx context.Context, js jetstream.JetStream, dataDir, endpointID string) (username, secret string, err error) {
	name := filepath.Join(dataDir, "controller.json")
	var saved struct{ Username, Secret string }
	if b, err := os.ReadFile(name); err == nil && json.Unmarshal(b, &saved) == nil && saved.Username == endpointID && saved.Secret != "" {
		return saved.Username, saved.Secret, nil
	}
	store, err := creds.OpenStore(ctx, creds.StoreConfig{JetStream: js})
	if err != nil {
		return "", "", err
	}
	_, secret, err = store.Add(ctx, creds.AddRequest{Role: creds.RoleController, EndpointID: endpointID})
	if errors.Is(err, creds.ErrExists) {
		secret, err = store.RotateSecret(ctx, endpointID)
	}
	if err != nil {
		return "", "", fmt.Errorf("provisioning the controller's credentials: %w", err)
	}
	saved.Username, saved.Secret = endpointID, secret
	b, _ := json.Marshal(saved) // two strings always marshal
	if err := os.WriteFile(name, b, 0o600); err != nil {
		return "", "", fmt.Errorf("writing %s: %w", name, err)
	}
	return endpointID, secret, nil
}

// localAPIFile is where `cuttle up` writes the URL of its API, so that the
// API commands on the same machine find it when it does not listen on the
// default address and no --server or CUTTLE_SERVER says where it is.
const localAPIFile = "api.json"

// localAPI is the content of localAPIFile.
type localAPI struct {
	// Server is the API's base URL, as --server takes it.
	Server string `json:"server"`
}

// writeLocalAPI records the address the API listens on (a listener
// address such as "[::]:9090") in dataDir/api.json, mode 0600.
func writeLocalAPI(dataDir, addr string) error {
	name := filepath.Join(dataDir, localAPIFile)
	b, _ := json.MarshalIndent(localAPI{Server: "http://" + loopbackAddr(addr)}, "", "  ") // a string always marshals
	if err := os.WriteFile(name, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return os.Chmod(name, 0o600) // WriteFile keeps an existing file's mode
}

// readLocalAPI returns the API URL a local `cuttle up` left in dataDir,
// or "" when there is none (or it cannot be read, which the default
// address then stands in for).
func readLocalAPI(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, localAPIFile))
	if err != nil {
		return ""
	}
	var l localAPI
	if json.Unmarshal(b, &l) != nil {
		return ""
	}
	return l.Server
}
