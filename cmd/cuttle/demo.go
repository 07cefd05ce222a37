package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"cuttle/broker/creds"
	"cuttle/simulator/agent"
	"cuttle/simulator/fleet"
	"cuttle/simulator/profile"
)

// startDemo provisions n simulated home gateways and prepares them to run
// against the local broker, so a newcomer sees a live fleet at once.
func startDemo(ctx context.Context, js jetstream.JetStream, n int, brokerURL, controllerID string, log *slog.Logger) (func(g *errgroup.Group, ctx context.Context), error) {
	p, err := profile.Builtin("home-gateway")
	if err != nil {
		return nil, err
	}
	eids := make([]string, n)
	for i := range eids {
		eids[i] = p.EndpointID(i + 1)
	}
	store, err := creds.OpenStore(ctx, creds.StoreConfig{JetStream: js})
	if err != nil {
		return nil, err
	}
	devs, err := provisionSimDevices(ctx, store, eids)
	if err != nil {
		return nil, fmt.Errorf("demo devices: %w", err)
	}
	fl, err := fleet.New(fleet.Config{
		Brokers: []string{brokerURL}, Devices: devs, Profile: p,
		Controllers: []agent.Controller{{EndpointID: controllerID, Topic: "usp/v1/controller/" + controllerID}},
		Logger:      log.With("component", "demo"),
	})
	if err != nil {
		return nil, err
	}
	return func(g *errgroup.Group, ctx context.Context) {
		g.Go(func() error { return fl.Run(ctx) })
	}, nil
}
