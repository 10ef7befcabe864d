package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pgbun/pgbun/internal/snapshot"
)

// fakeSource is a Source whose snapshots the test sets. When gate is not
// nil, Pools signals entered and then blocks until gate is closed, to hold
// a scrape in progress.
type fakeSource struct {
	mu       sync.Mutex
	pools    []snapshot.Pool
	stats    []snapshot.Stats
	events   snapshot.Events
	certs    []snapshot.Cert
	lockouts []snapshot.Lockout
	ready    bool
	version  string

	gate    chan struct{}
	entered chan struct{}
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) Pools() []snapshot.Pool {
	f.mu.Lock()
	gate, entered := f.gate, f.entered
	p := f.pools
	f.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	return p
}

func (f *fakeSource) Stats() []snapshot.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeSource) Events() snapshot.Events {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.events
}

func (f *fakeSource) Certs() []snapshot.Cert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.certs
}

func (f *fakeSource) Lockouts() []snapshot.Lockout {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lockouts
}

func (f *fakeSource) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeSource) Version() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version
}

func (f *fakeSource) setReady(b bool) {
	f.mu.Lock()
	f.ready = b
	f.mu.Unlock()
}

// blockPools makes the following Pools calls wait for the returned release
// function; entered receives once per call that started waiting.
func (f *fakeSource) blockPools(t *testing.T, capacity int) (entered <-chan struct{}, release func()) {
	t.Helper()
	gate := make(chan struct{})
	ent := make(chan struct{}, capacity)
	f.mu.Lock()
	f.gate, f.entered = gate, ent
	f.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return ent, release
}

// fullSource returns a Source with a value in every snapshot field the
// metrics read; the expected values in the tests derive from it.
func fullSource() *fakeSource {
	now := time.Now()
	return &fakeSource{
		version: "1.2.3",
		ready:   true,
		pools: []snapshot.Pool{
			{
				Database: "app", User: "alice",
				ClActive: 3, ClWaiting: 2, ClActiveCancel: 1, ClWaitingCancel: 4,
				SvActive: 5, SvActiveCancel: 6, SvBeingCanceled: 7, SvIdle: 8,
				SvUsed: 9, SvTested: 10, SvLogin: 11,
				MaxWait: 1500 * time.Millisecond, Mode: "transaction",
			},
			{Database: "app", User: "bob", ClActive: 1, SvIdle: 2},
		},
		stats: []snapshot.Stats{{
			Database: "app",
			Total: snapshot.Counters{
				ServerAssignments: 100, Transactions: 90, Queries: 300,
				Received: 4096, Sent: 8192,
				XactTime: 2 * time.Second, QueryTime: 1500 * time.Millisecond,
				WaitTime:     250 * time.Millisecond,
				ClientParses: 40, ServerParses: 12, Binds: 55,
				ClientLogins: 17,
			},
			Period: snapshot.Counters{Transactions: 7},
		}},
		events: snapshot.Events{
			Logins: map[string]uint64{
				"scram-sha-256/ok":     10,
				"scram-sha-256/failed": 2,
				"md5/throttled":        1,
			},
			TLSHandshakes:  map[string]uint64{"TLSv1.3": 7, "TLSv1.2": 1},
			TLSFailures:    3,
			Parked:         4,
			ServerConnects: 20,
			ServerFailures: 4,
			Throttled:      5,
			Reloads:        map[string]uint64{"ok": 2},
			PreparedHits:   33,
			PreparedMisses: 6,
		},
		certs: []snapshot.Cert{{
			Subject: "CN=db.example.com", Names: []string{"db.example.com", "*.db.example.com"},
			Serial: "0a1b", NotAfter: time.Unix(1893456000, 0), Source: "file:/etc/pgbun/server.crt",
		}},
		lockouts: []snapshot.Lockout{
			{Kind: "address", Key: "192.0.2.1", Until: now.Add(time.Hour), Failures: 10},
			{Kind: "address", Key: "192.0.2.2", Until: now.Add(time.Hour), Failures: 10},
			{Kind: "user", Key: "mallory", Until: now.Add(-time.Minute)},
		},
	}
}

// parseText parses a text exposition strictly: metric and label names
// must be valid in the classic (non-UTF-8) scheme.
func parseText(t testing.TB, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// scrapeServer fetches /metrics from a running test server and parses it.
func scrapeServer(t *testing.T, srv *httptest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: content type %q, want text exposition", ct)
	}
	return parseText(t, resp.Body)
}

// labelsOf returns a metric's labels as a map; a label absent from the
// exposition reads as "", as Prometheus treats it.
func labelsOf(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// find returns the series of family name whose labels are exactly want
// (missing labels count as ""), failing unless exactly one matches.
func find(t testing.TB, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mf := fams[name]
	if mf == nil {
		t.Fatalf("metric %s missing", name)
	}
	var found *dto.Metric
	for _, m := range mf.GetMetric() {
		got := labelsOf(m)
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		for k, v := range got {
			if _, ok := want[k]; !ok && v != "" {
				match = false
			}
		}
		if !match {
			continue
		}
		if found != nil {
			t.Fatalf("metric %s%v: more than one series", name, want)
		}
		found = m
	}
	if found == nil {
		t.Fatalf("metric %s%v: no series; have %v", name, want, mf.GetMetric())
	}
	return found
}

// value returns the value of one series and checks the family's type.
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, want map[string]string) float64 {
	t.Helper()
	m := find(t, fams, name, want)
	if got := fams[name].GetType(); got != typ {
		t.Fatalf("metric %s: type %v, want %v", name, got, typ)
	}
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s: unexpected type %v", name, typ)
	return 0
}
