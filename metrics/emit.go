package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// emitter sends constant metrics to a Collect channel.
type emitter struct {
	ch chan<- prometheus.Metric
}

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.send(d, prometheus.GaugeValue, v, labels)
}

func (e emitter) counter(d *prometheus.Desc, v float64, labels ...string) {
	e.send(d, prometheus.CounterValue, v, labels)
}

func (e emitter) send(d *prometheus.Desc, t prometheus.ValueType, v float64, labels []string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		// Labels are sanitised and counted by construction, so this is a
		// bug; an invalid metric makes the registry report it rather than
		// silently drop the series.
		m = prometheus.NewInvalidMetric(d, err)
	}
	e.ch <- m
}

// label makes a name usable as a label value. Prometheus requires valid
// UTF-8, and database and user names come from configuration and from
// clients' startup packets, which need not be; the text exposition escapes
// everything else.
func label(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
