package broker

import (
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/system"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the broker's Prometheus series. Counters the broker owns are
// incremented in the hooks; traffic totals are read from Mochi's own
// counters when scraped, so the hot path pays nothing for them.
type metrics struct {
	connects       *prometheus.CounterVec
	connRefused    *prometheus.CounterVec
	authFailures   *prometheus.CounterVec
	lockouts       *prometheus.CounterVec
	aclDenials     *prometheus.CounterVec
	recordsDropped *prometheus.CounterVec
	revoked        prometheus.Counter
	// flowWaits counts publishes held while their recipient's queue or
	// backlog was long; flowWaitTimeouts those let through after FlowWait.
	flowWaits, flowWaitTimeouts prometheus.Counter
	// qosDropped counts QoS 1/2 deliveries Mochi gave up on (expired, or
	// refused by the client).
	qosDropped prometheus.Counter
	// tooLarge counts deliveries discarded for exceeding the client's
	// Maximum Packet Size.
	tooLarge prometheus.Counter
	// takeoverOrphans counts deliveries Mochi stored on a session being
	// taken over, by what became of them (takeover.go).
	takeoverOrphans *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, info func() *system.Info, lockedKeys func() int) (*metrics, error) {
	m := &metrics{
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_broker_connects_total", Help: "Accepted MQTT connections, by listener.",
		}, []string{"listener"}),
		connRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_broker_connections_refused_total", Help: "TCP connections refused by a connection cap (total or per_ip).",
		}, []string{"listener", "cap"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_broker_auth_failures_total", Help: "Refused CONNECTs, by reason.",
		}, []string{"reason"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_broker_lockouts_total", Help: "Brute-force lockouts started, by key kind (ip, username).",
		}, []string{"kind"}),
		aclDenials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_broker_acl_denials_total", Help: "Denied subscriptions, deliveries and publishes.",
		}, []string{"op"}),
		recordsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_broker_records_dropped_total", Help: "USP Records from devices dropped by the broker: failing the trusted-broker check (unparsable, spoofed_from_id) or over the publish rate (rate_limited).",
		}, []string{"reason"}),
		flowWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_broker_flow_waits_total", Help: "Publishes held because a recipient's backlog was long or its outbound queue half full.",
		}),
		flowWaitTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_broker_flow_wait_timeouts_total", Help: "Held device publishes let through after the flow wait limit.",
		}),
		qosDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_broker_qos_dropped_total", Help: "QoS 1/2 deliveries abandoned: expired, or refused by the client.",
		}),
		tooLarge: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_broker_deliveries_too_large_total", Help: "Deliveries discarded because they exceed the Maximum Packet Size the receiving client set.",
		}),
		takeoverOrphans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_broker_takeover_orphans_total",
			Help: "QoS 1/2 deliveries routed to a session while a reconnect took it over: redelivered to the new connection, already copied, discarded (clean start) or lost.",
		}, []string{"outcome"}),
		revoked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_broker_revocation_disconnects_total", Help: "Sessions closed because their credential or certificate was revoked or disabled.",
		}),
	}
	gauge := func(name, help string, v func(*system.Info) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(v(info())) })
	}
	counter := func(name, help string, v func(*system.Info) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(info())) })
	}
	collectors := []prometheus.Collector{
		m.connects, m.connRefused, m.authFailures, m.lockouts, m.aclDenials, m.recordsDropped, m.revoked, m.flowWaits, m.flowWaitTimeouts, m.qosDropped, m.takeoverOrphans, m.tooLarge,
		gauge("cuttle_broker_clients_connected", "Connected MQTT clients.", func(i *system.Info) int64 { return atomic.LoadInt64(&i.ClientsConnected) }),
		gauge("cuttle_broker_inflight_messages", "QoS 1/2 messages awaiting acknowledgement.", func(i *system.Info) int64 { return atomic.LoadInt64(&i.Inflight) }),
		gauge("cuttle_broker_retained_messages", "Retained messages.", func(i *system.Info) int64 { return atomic.LoadInt64(&i.Retained) }),
		counter("cuttle_broker_messages_received_total", "PUBLISH packets received.", func(i *system.Info) int64 { return atomic.LoadInt64(&i.MessagesReceived) }),
		counter("cuttle_broker_messages_sent_total", "PUBLISH packets sent.", func(i *system.Info) int64 { return atomic.LoadInt64(&i.MessagesSent) }),
		counter("cuttle_broker_bytes_received_total", "Bytes received.", func(i *system.Info) int64 { return atomic.LoadInt64(&i.BytesReceived) }),
		counter("cuttle_broker_bytes_sent_total", "Bytes sent.", func(i *system.Info) int64 { return atomic.LoadInt64(&i.BytesSent) }),
		counter("cuttle_broker_queue_drops_total", "Deliveries that did not fit a client's outbound queue; the broker writes them past the queue, so they are not lost.", func(i *system.Info) int64 { return atomic.LoadInt64(&i.MessagesDropped) }),
		counter("cuttle_broker_inflight_drops_total", "QoS 1/2 messages dropped because a client's inflight store was full.", func(i *system.Info) int64 { return atomic.LoadInt64(&i.InflightDropped) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cuttle_broker_locked_keys", Help: "IP addresses and usernames currently locked out."},
			func() float64 { return float64(lockedKeys()) }),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
