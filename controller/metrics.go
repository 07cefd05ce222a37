package controller

import "github.com/prometheus/client_golang/prometheus"

// metrics are the service's own series; mqttmtp adds the request metrics.
type metrics struct {
	records            *prometheus.CounterVec
	notifications      *prometheus.CounterVec
	inventoryErrors    prometheus.Counter
	eventErrors        prometheus.Counter
	subscriptionErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_controller_records_total", Help: "Records from devices other than responses and notifications, by kind.",
		}, []string{"kind"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_controller_notifications_total", Help: "Notify messages received, by type.",
		}, []string{"type"}),
		inventoryErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_controller_inventory_errors_total", Help: "Failed writes to the device inventory.",
		}),
		eventErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_controller_event_errors_total", Help: "Failed writes to the event log.",
		}),
		subscriptionErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cuttle_controller_subscription_errors_total", Help: "Devices on which the default subscriptions could not be created.",
		}),
	}
	for _, c := range []prometheus.Collector{m.records, m.notifications, m.inventoryErrors, m.eventErrors, m.subscriptionErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
