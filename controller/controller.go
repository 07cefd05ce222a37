// Package controller is Cuttle's USP controller service: it talks to
// devices over MQTT 5 (controller/mqttmtp), keeps the device inventory
// (devices/inventory) current from the broker's presence records and the
// devices' own Records, answers and logs their notifications
// (controller/events), and gives each device the default subscriptions the
// operator configured, so Boot! and the like arrive with no manual set-up.
// The REST API (controller/api) and bulk jobs build on it.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"cuttle/broker/presence"
	"cuttle/controller/events"
	"cuttle/controller/mqttmtp"
	"cuttle/controller/traffic"
	"cuttle/devices/inventory"
)

// Subscription is a subscription the controller creates in every device's
// Device.LocalAgent.Subscription table.
type Subscription struct {
	ID            string `yaml:"id" json:"id"`
	NotifType     string `yaml:"notif_type" json:"notif_type"` // ValueChange, ObjectCreation, ObjectDeletion, OperationComplete, Event
	ReferenceList string `yaml:"reference_list" json:"reference_list"`
}

// DefaultSubscriptions make a device report its boots and firmware
// changes, which keep the inventory current.
var DefaultSubscriptions = []Subscription{
	{ID: "cuttle-boot", NotifType: "Event", ReferenceList: "Device.Boot!"},
	{ID: "cuttle-software-version", NotifType: "ValueChange", ReferenceList: "Device.DeviceInfo.SoftwareVersion"},
	{ID: "cuttle-operation-complete", NotifType: "OperationComplete", ReferenceList: "Device."},
}

// Config configures a Controller. Zero values mean defaults.
type Config struct {
	// MTP configures the MQTT connection; its Handler and Traffic are set
	// by the controller.
	MTP       mqttmtp.Config
	JetStream jetstream.JetStream
	// DevicesBucket, EventsStream and PresenceBucket name the NATS state;
	// defaults "cuttle-devices", "cuttle-events", "cuttle-presence".
	DevicesBucket  string
	EventsStream   string
	PresenceBucket string
	Replicas       int
	// Subscriptions are created on every device the first time it is
	// seen; nil means DefaultSubscriptions, an empty slice none.
	Subscriptions []Subscription
	// TrafficRing is how many USP messages the traffic inspector keeps
	// (controller/traffic): 0 means traffic.DefaultSize, a negative
	// number turns the inspector off.
	TrafficRing int
	// RequestTimeout bounds the controller's own requests (DeviceInfo
	// fetches, subscription set-up); default 30 s.
	RequestTimeout time.Duration
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
}

// Controller is the running service.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	mtp     *mqttmtp.Client
	inv     *inventory.Inventory
	events  *events.Log
	traffic *traffic.Recorder // nil when the inspector is off
	metrics *metrics
	rate    notifyRate

	mu       sync.Mutex          // guards settling
	settling map[string]struct{} // devices whose subscriptions or info are being set up
	work     sync.WaitGroup      // set-up goroutines
	runCtx   context.Context     // ends when Run returns; set-up work uses it
}

// New opens the inventory and the event log and prepares the MQTT client;
// Run connects.
func New(ctx context.Context, cfg Config) (*Controller, error) {
	if cfg.JetStream == nil {
		return nil, errors.New("controller: a NATS JetStream connection is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Subscriptions == nil {
		cfg.Subscriptions = DefaultSubscriptions
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.PresenceBucket == "" {
		cfg.PresenceBucket = presence.DefaultBucket
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "controller"), settling: map[string]struct{}{}}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	c.inv, err = inventory.Open(ctx, inventory.Config{JetStream: cfg.JetStream, Bucket: cfg.DevicesBucket, Replicas: cfg.Replicas, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("device inventory: %w", err)
	}
	c.events, err = events.Open(ctx, events.Config{JetStream: cfg.JetStream, Stream: cfg.EventsStream, Replicas: cfg.Replicas, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	if cfg.TrafficRing >= 0 {
		c.traffic = traffic.New(traffic.Config{Size: cfg.TrafficRing})
	}
	mcfg := cfg.MTP
	mcfg.Handler = c.handle
	mcfg.Traffic = c.traffic
	if mcfg.Logger == nil {
		mcfg.Logger = cfg.Logger
	}
	if mcfg.Registerer == nil {
		mcfg.Registerer = cfg.Registerer
	}
	c.mtp, err = mqttmtp.New(mcfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// MTP is the controller's USP client, for the API's per-device requests.
func (c *Controller) MTP() *mqttmtp.Client { return c.mtp }

// Inventory is the device inventory.
func (c *Controller) Inventory() *inventory.Inventory { return c.inv }

// Events is the event log.
func (c *Controller) Events() *events.Log { return c.events }

// Traffic is the traffic inspector's recorder, nil when it is off.
func (c *Controller) Traffic() *traffic.Recorder { return c.traffic }

// Run serves until ctx ends: the MQTT client, the inventory's watch and the
// broker's presence feed.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.runCtx = ctx
	c.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, run := range []func(context.Context) error{
		c.inv.Run,
		c.mtp.Run,
		func(ctx context.Context) error {
			return c.inv.WatchPresence(ctx, c.cfg.JetStream, c.cfg.PresenceBucket)
		},
	} {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	c.log.Info("controller started", "endpoint_id", c.mtp.EndpointID())
	wg.Wait()
	c.work.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// background runs f for device eid unless set-up work for it is already
// running, on a context that ends with Run.
func (c *Controller) background(eid string, f func(ctx context.Context)) {
	c.mu.Lock()
	ctx := c.runCtx
	if _, busy := c.settling[eid]; busy || ctx == nil || ctx.Err() != nil {
		c.mu.Unlock()
		return
	}
	c.settling[eid] = struct{}{}
	c.mu.Unlock()
	c.work.Go(func() {
		defer func() {
			c.mu.Lock()
			delete(c.settling, eid)
			c.mu.Unlock()
		}()
		f(ctx)
	})
}
