package jobs

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	results  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, m *Manager) (*metrics, error) {
	x := &metrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cuttle_job_device_results_total",
			Help: "Device results recorded by this replica's jobs, by operation and status (ok, usp_error, timeout, ...).",
		}, []string{"operation", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cuttle_job_duration_seconds",
			Help:    "Time from a job's start to its end, by final state, for the jobs this replica ended.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 16), // 0.5 s to 4.5 h
		}, []string{"state"}),
	}
	for _, c := range []prometheus.Collector{x.results, x.duration, &stateCollector{m: m}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return x, nil
}

var (
	jobsDesc = prometheus.NewDesc("cuttle_jobs",
		"Jobs in the cluster by state, as this replica's Run follows them.", []string{"state"}, nil)
	runningDesc = prometheus.NewDesc("cuttle_jobs_running_here",
		"Jobs this replica is running now.", nil, nil)
)

// stateCollector counts the jobs Run knows, at scrape time.
type stateCollector struct{ m *Manager }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- runningDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[string]int, len(States))
	c.m.mu.Lock()
	for _, info := range c.m.known {
		counts[info.state]++
	}
	running := len(c.m.running)
	c.m.mu.Unlock()
	for _, s := range States {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(counts[s]), s)
	}
	ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(running))
}
