package mqttmtp

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Request outcomes, the values of the "outcome" label.
const (
	outcomeOK           = "ok"
	outcomeUSPError     = "usp_error"
	outcomeTimeout      = "timeout"
	outcomeCanceled     = "canceled"
	outcomeNotConnected = "not_connected"
	outcomeUnexpected   = "unexpected_response"
	outcomeFailed       = "failed" // publish refused or failed, client closed
)

// metrics are the client's Prometheus series.
type metrics struct {
	requests  *prometheus.CounterVec   // type, outcome
	latency   *prometheus.HistogramVec // type
	malformed *prometheus.CounterVec   // reason
	ignored   *prometheus.CounterVec   // reason
	unknownID prometheus.Counter
	corrMism  prometheus.Counter
	dropped   prometheus.Counter
	connects  prometheus.Counter
	connected prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, pending func() int) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_controller_usp_requests_total",
			Help: "USP requests sent to devices, by message type and outcome (ok, usp_error, timeout, canceled, not_connected, unexpected_response, failed).",
		}, []string{"type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cuttle_controller_usp_request_duration_seconds",
			Help:    "Time from sending a USP request to its response (ok and usp_error outcomes), by message type.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 17), // 0.5 ms to 33 s
		}, []string{"type"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_controller_usp_malformed_records_total",
			Help: "Received MQTT messages dropped because they are not a valid USP Record or Msg, by reason (content_type, record, msg).",
		}, []string{"reason"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_controller_usp_ignored_records_total",
			Help: "Valid Records ignored, by reason (to_id: not addressed to this controller; own_from_id; record_type: a kind that does not belong on MQTT).",
		}, []string{"reason"}),
		unknownID: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_controller_usp_unknown_msg_ids_total",
			Help: "Responses whose msg_id matches no pending request from that device (late answers after a timeout, unsolicited responses).",
		}),
		corrMism: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_controller_usp_correlation_mismatches_total",
			Help: "Responses whose MQTT Correlation Data differs from their msg_id; they are still matched by msg_id.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_controller_usp_handler_dropped_total",
			Help: "Records for the handler dropped because its queue stayed full.",
		}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_controller_mqtt_connects_total",
			Help: "Successful connections (CONNECT and SUBSCRIBE) to a broker.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cuttle_controller_mqtt_connected",
			Help: "1 while connected and subscribed to the inbox.",
		}),
	}
	collectors := []prometheus.Collector{
		m.requests, m.latency, m.malformed, m.ignored, m.unknownID, m.corrMism, m.dropped, m.connects, m.connected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cuttle_controller_usp_pending_requests",
			Help: "USP requests waiting for their response.",
		}, func() float64 { return float64(pending()) }),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
