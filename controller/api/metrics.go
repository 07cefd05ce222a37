package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the API's own series; the controller and mqttmtp add the
// USP request, notification and device series.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	streams  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_api_requests_total", Help: "API requests, by route, method and response status.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cuttle_api_request_duration_seconds", Help: "API request latency, by route and method (event streams excluded).",
			// Up to a minute: a USP request may wait for its timeout, an
			// Operate for its completion.
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cuttle_api_event_streams", Help: "Event streams (Server-Sent Events) open now.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.streams} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// MetricsHandler serves the Gatherer's metrics without authentication, for
// a separate listener that only the monitoring system reaches (the API's
// own /metrics needs a token).
func (a *API) MetricsHandler() http.Handler {
	if a.cfg.Gatherer == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(a.cfg.Gatherer, promhttp.HandlerOpts{ErrorLog: slogErrorLog{a}})
}

func (a *API) metricsRoute(w http.ResponseWriter, r *http.Request) error {
	a.MetricsHandler().ServeHTTP(w, r)
	return nil
}

// slogErrorLog passes promhttp's gathering errors to the API's log.
type slogErrorLog struct{ a *API }

func (l slogErrorLog) Println(v ...any) { l.a.log.Warn("gathering metrics", "error", v) }
