package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cuttle/internal/testutil"
)

func TestHealthHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			_, _ = w.Write([]byte("ready\n"))
			return
		}
		http.Error(w, "not ready: no broker", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	for _, tc := range []struct {
		name    string
		args    []string
		getenv  map[string]string
		healthy bool
	}{
		{"url", []string{srv.URL + "/readyz"}, nil, true},
		{"kind with addr", []string{"--health-addr", addr, "controller"}, nil, true},
		{"target from env", nil, map[string]string{"CUTTLE_HEALTH_TARGET": "broker", "CUTTLE_HEALTH_ADDR": addr}, true},
		{"503", []string{srv.URL + "/other"}, nil, false},
		{"nothing listening", []string{"--health-addr", testutil.RefusedAddr(t), "broker"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.getenv {
				t.Setenv(k, v)
			}
			var out strings.Builder
			err := runHealth(context.Background(), tc.args, &out)
			if tc.healthy {
				if err != nil || !strings.HasPrefix(out.String(), "ok ") {
					t.Fatalf("err = %v, output %q; want healthy", err, out.String())
				}
				return
			}
			if !errors.Is(err, errUnhealthy) || errors.Is(err, errUsage) {
				t.Fatalf("err = %v; want unhealthy", err)
			}
		})
	}
}

func TestHealthNATSDown(t *testing.T) {
	err := runHealth(context.Background(), []string{"nats://" + testutil.RefusedAddr(t)}, &strings.Builder{})
	if !errors.Is(err, errUnhealthy) {
		t.Fatalf("err = %v; want unhealthy", err)
	}
}

func TestHealthUsage(t *testing.T) {
	t.Setenv("CUTTLE_HEALTH_TARGET", "")
	for _, args := range [][]string{
		nil,
		{"database"},
		{"ftp://host/"},
		{"--health-addr", "nohost", "broker"},
		{"broker", "controller"},
	} {
		if err := runHealth(context.Background(), args, &strings.Builder{}); !errors.Is(err, errUsage) {
			t.Errorf("health %q: err = %v; want a usage error", args, err)
		}
	}
}
