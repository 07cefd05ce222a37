package embednats

import (
	"errors"
	"fmt"
	"testing"
)

func TestClusterConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		cl   ClusterConfig
	}{
		{"no name", Config{DataDir: t.TempDir()}, ClusterConfig{}},
		{"bad name", Config{DataDir: t.TempDir()}, ClusterConfig{Name: "a.b"}},
		{"no data dir", Config{}, ClusterConfig{Name: "c"}},
		{"bad route", Config{DataDir: t.TempDir()}, ClusterConfig{Name: "c", Routes: []string{"http://x:6222"}}},
		{"user without password", Config{DataDir: t.TempDir()}, ClusterConfig{Name: "c", User: "u"}},
		{"port out of range", Config{DataDir: t.TempDir()}, ClusterConfig{Name: "c", Port: 70000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Port = RandomPort
			s, err := StartCluster(tc.cfg, tc.cl)
			if err == nil {
				s.Shutdown()
				t.Fatal("StartCluster succeeded; want an error")
			}
			if !errors.Is(err, ErrCluster) {
				t.Fatalf("error %v; want ErrCluster", err)
			}
		})
	}
}

func TestRouteURLs(t *testing.T) {
	cl := ClusterConfig{Routes: []string{" nats://n1:6222", "nats://n2", "", "nats://x:y@n3:7000"}, User: "r", Password: "s"}
	urls, err := cl.routeURLs()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range urls {
		got = append(got, u.String())
	}
	want := []string{"nats://r:s@n1:6222", "nats://r:s@n2:6222", "nats://x:y@n3:7000"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routes = %v; want %v", got, want)
	}
}
