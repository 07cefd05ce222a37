package fleet

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are the fleet's running totals, updated without locks.
type counters struct {
	states [numStates]atomic.Int64

	attempts, failures, connects, disconnects, reboots atomic.Uint64
	requests, responses, notifies, notifyDropped       atomic.Uint64
	records                                            atomic.Uint64
	ignored                                            [numIgnored]atomic.Uint64

	mu      sync.Mutex // guards lastErr
	lastErr string
}

func (c *counters) ignore(reason int) { c.ignored[reason].Add(1) }

func (c *counters) setLastError(s string) {
	c.mu.Lock()
	c.lastErr = s
	c.mu.Unlock()
}

// Stats is a snapshot of a fleet.
type Stats struct {
	Devices int
	// Connected devices are subscribed and have sent their Connect
	// Records; Connecting ones wait for or are in a connection attempt;
	// Failed ones wait to retry after a failure; Booting ones are off for a
	// reboot; Disabled ones stopped because the broker named no topic.
	Connected, Connecting, Failed, Booting, Disabled int

	// ConnectAttempts counts connection attempts, ConnectFailures the
	// failed ones, Connects the successful ones, Disconnects connections
	// lost (not closed by the device), Reboots reboots carried out.
	ConnectAttempts, ConnectFailures, Connects, Disconnects, Reboots uint64
	// Requests counts USP requests handled, Responses the responses and
	// Errors sent, Notifications the Notify messages sent and
	// NotificationsDropped those that could not be (device offline).
	Requests, Responses, Notifications, NotificationsDropped uint64
	// RecordsSent counts every Record published.
	RecordsSent uint64
	// RecordsIgnored counts received Records that were not handled, by
	// reason: content_type, unparsable, to_id, unknown_from_id,
	// bad_record (answered per R-MTP.5 when possible), bad_msg,
	// record_type (Connect and Disconnect Records from Controllers).
	RecordsIgnored map[string]uint64
	// LastError is the latest connection problem, for the status line.
	LastError string
}

// Stats returns the current figures.
func (f *Fleet) Stats() Stats {
	c := &f.stats
	st := func(s state) int { return int(c.states[s].Load()) }
	s := Stats{
		Devices:    len(f.devices),
		Connected:  st(stateConnected),
		Connecting: st(stateConnecting) + st(stateIdle),
		Failed:     st(stateRetrying),
		Booting:    st(stateBooting),
		Disabled:   st(stateDisabled),

		ConnectAttempts: c.attempts.Load(), ConnectFailures: c.failures.Load(), Connects: c.connects.Load(),
		Disconnects: c.disconnects.Load(), Reboots: c.reboots.Load(),
		Requests: c.requests.Load(), Responses: c.responses.Load(),
		Notifications: c.notifies.Load(), NotificationsDropped: c.notifyDropped.Load(),
		RecordsSent:    c.records.Load(),
		RecordsIgnored: map[string]uint64{},
	}
	for i := range c.ignored {
		if n := c.ignored[i].Load(); n > 0 {
			s.RecordsIgnored[ignoredNames[i]] = n
		}
	}
	c.mu.Lock()
	s.LastError = c.lastErr
	c.mu.Unlock()
	return s
}

// Ignored returns the total of RecordsIgnored.
func (s Stats) Ignored() uint64 {
	var n uint64
	for _, v := range s.RecordsIgnored {
		n += v
	}
	return n
}

// String is the one-line status `cuttle sim` prints.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connected %d/%d, connecting %d, booting %d, failed %d", s.Connected, s.Devices, s.Connecting, s.Booting, s.Failed)
	if s.Disabled > 0 {
		fmt.Fprintf(&b, ", disabled %d", s.Disabled)
	}
	fmt.Fprintf(&b, " | requests %d, notifications %d", s.Requests, s.Notifications)
	if s.NotificationsDropped > 0 {
		fmt.Fprintf(&b, " (%d dropped)", s.NotificationsDropped)
	}
	fmt.Fprintf(&b, ", ignored %d | connects %d, lost %d, reboots %d", s.Ignored(), s.Connects, s.Disconnects, s.Reboots)
	if s.LastError != "" && s.Connected < s.Devices {
		fmt.Fprintf(&b, " | last error: %s", s.LastError)
	}
	return b.String()
}

// collector exports the counters as Prometheus metrics, read when scraped.
type collector struct{ f *Fleet }

var (
	descDevices  = prometheus.NewDesc("cuttle_sim_devices", "Simulated devices by connection state.", []string{"state"}, nil)
	descAttempts = prometheus.NewDesc("cuttle_sim_connect_attempts_total", "MQTT connection attempts.", nil, nil)
	descFailures = prometheus.NewDesc("cuttle_sim_connect_failures_total", "Failed MQTT connection attempts.", nil, nil)
	descConnects = prometheus.NewDesc("cuttle_sim_connects_total", "Successful connections (subscribed, Connect Records sent).", nil, nil)
	descLost     = prometheus.NewDesc("cuttle_sim_disconnects_total", "Connections lost.", nil, nil)
	descReboots  = prometheus.NewDesc("cuttle_sim_reboots_total", "Reboots carried out.", nil, nil)
	descRequests = prometheus.NewDesc("cuttle_sim_requests_total", "USP requests handled.", nil, nil)
	descResp     = prometheus.NewDesc("cuttle_sim_responses_total", "USP responses and Errors sent.", nil, nil)
	descNotifies = prometheus.NewDesc("cuttle_sim_notifications_total", "USP Notify messages, by result.", []string{"result"}, nil)
	descRecords  = prometheus.NewDesc("cuttle_sim_records_sent_total", "USP Records published.", nil, nil)
	descIgnored  = prometheus.NewDesc("cuttle_sim_records_ignored_total", "Received USP Records not handled, by reason.", []string{"reason"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDevices, descAttempts, descFailures, descConnects, descLost, descReboots,
		descRequests, descResp, descNotifies, descRecords, descIgnored} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.f.Stats()
	gauge := func(state string, n int) {
		ch <- prometheus.MustNewConstMetric(descDevices, prometheus.GaugeValue, float64(n), state)
	}
	gauge("connected", s.Connected)
	gauge("connecting", s.Connecting)
	gauge("failed", s.Failed)
	gauge("booting", s.Booting)
	gauge("disabled", s.Disabled)
	counter := func(d *prometheus.Desc, n uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), labels...)
	}
	counter(descAttempts, s.ConnectAttempts)
	counter(descFailures, s.ConnectFailures)
	counter(descConnects, s.Connects)
	counter(descLost, s.Disconnects)
	counter(descReboots, s.Reboots)
	counter(descRequests, s.Requests)
	counter(descResp, s.Responses)
	counter(descNotifies, s.Notifications, "sent")
	counter(descNotifies, s.NotificationsDropped, "dropped")
	counter(descRecords, s.RecordsSent)
	for _, name := range ignoredNames {
		counter(descIgnored, s.RecordsIgnored[name], name)
	}
}
