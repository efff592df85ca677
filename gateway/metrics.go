package gateway

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are gatehouse's Prometheus metrics, served on the admin listener.
type Metrics struct {
	Registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	logins          *prometheus.CounterVec
	sessionErrors   *prometheus.CounterVec
	sessionDuration *prometheus.HistogramVec
}

// NewMetrics registers gatehouse's metrics (and the Go/process collectors) on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_request_duration_seconds", Help: "Time to the response header, by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_logins_total", Help: "Login attempts by authentication module and result.",
		}, []string{"module", "result"}),
		sessionErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_session_store_errors_total", Help: "Session store operations that failed, by operation.",
		}, []string{"op"}),
		sessionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_session_store_duration_seconds", Help: "Session store operation latency, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 3, 10),
		}, []string{"op"}),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.logins, m.sessionErrors, m.sessionDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveLogin counts one module attempt; it fits authn.Observer.
func (m *Metrics) ObserveLogin(module, result string) { m.logins.WithLabelValues(module, result).Inc() }

func (m *Metrics) observeSession(op string, start time.Time, err error) {
	m.sessionDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.sessionErrors.WithLabelValues(op).Inc()
	}
}

// routeStats are one route's request series, resolved once per route and status code so
// that the proxy path neither hashes label values nor formats the status per request.
type routeStats struct {
	name     string
	requests *prometheus.CounterVec
	duration prometheus.Observer
	byStatus [600]atomic.Pointer[prometheus.Counter]
}

func (m *Metrics) forRoute(name string) *routeStats {
	return &routeStats{name: name, requests: m.requests, duration: m.duration.WithLabelValues(name)}
}

// observeRequest counts one proxied request of rt.
func (m *Metrics) observeRequest(rt *route, status int, d time.Duration) {
	st := rt.stats
	st.duration.Observe(d.Seconds())
	if status < 0 || status >= len(st.byStatus) {
		st.requests.WithLabelValues(st.name, strconv.Itoa(status)).Inc()
		return
	}
	p := st.byStatus[status].Load()
	if p == nil {
		c := st.requests.WithLabelValues(st.name, strconv.Itoa(status))
		p = &c
		st.byStatus[status].Store(p)
	}
	(*p).Inc()
}
