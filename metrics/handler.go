package metrics

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxScrapes bounds concurrent /metrics requests; more are answered 503 so
// that a flood of scrapes cannot pile up Source calls.
const maxScrapes = 4

// NewHandler returns the handler for /metrics, /healthz and /readyz, reading
// src at every request. Collection errors, which mean a bug, are logged
// through slog.Default and the rest of the scrape is still served.
func NewHandler(src Source) http.Handler {
	return newHandler(src, slog.Default())
}

func newHandler(src Source, log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	// Registration fails only when descriptors clash, which the fixed
	// descriptors of descs.go never do; the tests register the same set.
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{src: src, now: time.Now},
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            promLogger{log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxScrapes,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writePlain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if src.Ready() {
			writePlain(w, http.StatusOK, "ready")
			return
		}
		writePlain(w, http.StatusServiceUnavailable, "not ready")
	})
	return mux
}

// writePlain answers a health check. Probes must see the state of now, so
// no cache may keep the answer.
func writePlain(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body)) // the client went away: nothing to do
}

// promLogger adapts slog to promhttp's Println logger.
type promLogger struct{ l *slog.Logger }

func (p promLogger) Println(v ...any) {
	for _, x := range v {
		if err, ok := x.(error); ok {
			p.l.Error("metrics: scrape", "err", err)
			continue
		}
		p.l.Error("metrics: scrape", "msg", x)
	}
}
