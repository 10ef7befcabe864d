package metrics

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pgbun/pgbun/internal/snapshot"
)

type lbl = map[string]string

const (
	counter = dto.MetricType_COUNTER
	gauge   = dto.MetricType_GAUGE
)

func TestScrapeReportsSnapshots(t *testing.T) {
	srv := httptest.NewServer(NewHandler(fullSource()))
	defer srv.Close()
	fams := scrapeServer(t, srv)

	alice := func(state string) lbl { return lbl{"database": "app", "user": "alice", "state": state} }
	app := lbl{"database": "app"}
	tests := []struct {
		name   string
		typ    dto.MetricType
		labels lbl
		want   float64
	}{
		{"pgbun_build_info", gauge, lbl{"version": "1.2.3"}, 1},
		{"pgbun_ready", gauge, lbl{}, 1},

		{"pgbun_pool_clients", gauge, alice("active"), 3},
		{"pgbun_pool_clients", gauge, alice("waiting"), 2},
		{"pgbun_pool_clients", gauge, alice("active_cancel_req"), 1},
		{"pgbun_pool_clients", gauge, alice("waiting_cancel_req"), 4},
		{"pgbun_pool_servers", gauge, alice("active"), 5},
		{"pgbun_pool_servers", gauge, alice("active_cancel"), 6},
		{"pgbun_pool_servers", gauge, alice("being_canceled"), 7},
		{"pgbun_pool_servers", gauge, alice("idle"), 8},
		{"pgbun_pool_servers", gauge, alice("used"), 9},
		{"pgbun_pool_servers", gauge, alice("tested"), 10},
		{"pgbun_pool_servers", gauge, alice("login"), 11},
		{"pgbun_pool_max_wait_seconds", gauge, lbl{"database": "app", "user": "alice"}, 1.5},
		{"pgbun_pool_clients", gauge, lbl{"database": "app", "user": "bob", "state": "active"}, 1},
		{"pgbun_pool_clients", gauge, lbl{"database": "app", "user": "bob", "state": "waiting"}, 0},
		{"pgbun_pool_servers", gauge, lbl{"database": "app", "user": "bob", "state": "idle"}, 2},
		{"pgbun_pool_max_wait_seconds", gauge, lbl{"database": "app", "user": "bob"}, 0},

		{"pgbun_server_assignments_total", counter, app, 100},
		{"pgbun_transactions_total", counter, app, 90},
		{"pgbun_queries_total", counter, app, 300},
		{"pgbun_client_received_bytes_total", counter, app, 4096},
		{"pgbun_client_sent_bytes_total", counter, app, 8192},
		{"pgbun_transaction_seconds_total", counter, app, 2},
		{"pgbun_query_seconds_total", counter, app, 1.5},
		{"pgbun_client_wait_seconds_total", counter, app, 0.25},
		{"pgbun_client_parses_total", counter, app, 40},
		{"pgbun_server_parses_total", counter, app, 12},
		{"pgbun_binds_total", counter, app, 55},
		{"pgbun_client_logins_total", counter, app, 17},

		{"pgbun_logins_total", counter, lbl{"method": "scram-sha-256", "result": "ok"}, 10},
		{"pgbun_logins_total", counter, lbl{"method": "scram-sha-256", "result": "failed"}, 2},
		{"pgbun_logins_total", counter, lbl{"method": "md5", "result": "throttled"}, 1},
		{"pgbun_auth_throttled_total", counter, lbl{}, 5},
		{"pgbun_auth_lockouts", gauge, lbl{"kind": "address"}, 2},
		{"pgbun_auth_lockouts", gauge, lbl{"kind": "user"}, 0}, // its lockout has expired
		{"pgbun_tls_handshakes_total", counter, lbl{"version": "TLSv1.3"}, 7},
		{"pgbun_tls_handshakes_total", counter, lbl{"version": "TLSv1.2"}, 1},
		{"pgbun_tls_handshake_failures_total", counter, lbl{}, 3},
		{"pgbun_clients_parked", gauge, lbl{}, 4},
		{"pgbun_certificate_not_after_timestamp_seconds", gauge,
			lbl{"name": "db.example.com", "source": "file:/etc/pgbun/server.crt", "serial": "0a1b"}, 1893456000},
		{"pgbun_certificate_not_after_timestamp_seconds", gauge,
			lbl{"name": "*.db.example.com", "source": "file:/etc/pgbun/server.crt", "serial": "0a1b"}, 1893456000},

		{"pgbun_server_connects_total", counter, lbl{}, 20},
		{"pgbun_server_connect_failures_total", counter, lbl{}, 4},
		{"pgbun_reloads_total", counter, lbl{"result": "ok"}, 2},
		{"pgbun_reloads_total", counter, lbl{"result": "failed"}, 0},
		{"pgbun_prepared_statements_total", counter, lbl{"result": "hit"}, 33},
		{"pgbun_prepared_statements_total", counter, lbl{"result": "miss"}, 6},
	}
	for _, tc := range tests {
		if got := value(t, fams, tc.name, tc.typ, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}

	// Series counts: nothing beyond what the snapshots hold.
	counts := map[string]int{
		"pgbun_pool_clients":                            2 * len(clientStates),
		"pgbun_pool_servers":                            2 * len(serverStates),
		"pgbun_pool_max_wait_seconds":                   2,
		"pgbun_logins_total":                            3,
		"pgbun_transactions_total":                      1,
		"pgbun_auth_lockouts":                           2,
		"pgbun_certificate_not_after_timestamp_seconds": 2,
	}
	for name, want := range counts {
		if got := len(fams[name].GetMetric()); got != want {
			t.Errorf("%s: %d series, want %d", name, got, want)
		}
	}

	// The runtime and process collectors share the registry.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
}

// pgbunFamilies returns the names of the pgbun_ families in fams.
func pgbunFamilies(fams map[string]*dto.MetricFamily) []string {
	var names []string
	for name := range fams {
		if strings.HasPrefix(name, "pgbun_") {
			names = append(names, name)
		}
	}
	return names
}

func TestEveryMetricDescribedAndDocumented(t *testing.T) {
	srv := httptest.NewServer(NewHandler(fullSource()))
	defer srv.Close()
	names := pgbunFamilies(scrapeServer(t, srv))
	if len(names) != len(allDescs) {
		t.Errorf("scrape has %d pgbun_ families, %d are described: %v", len(names), len(allDescs), names)
	}
	for _, file := range []string{"../docs/metrics.md", "../README.md"} {
		doc, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read metrics documentation: %v", err)
		}
		for _, name := range names {
			if !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("%s does not name %s", strings.TrimPrefix(file, "../"), name)
			}
		}
	}
}

// gatherPedantic collects src through a pedantic registry, which checks
// every metric against its descriptor and rejects duplicate series.
func gatherPedantic(t *testing.T, src Source, now time.Time) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(&collector{src: src, now: func() time.Time { return now }}); err != nil {
		t.Fatalf("register: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	fams := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		fams[mf.GetName()] = mf
	}
	return fams
}

func TestEmptySource(t *testing.T) {
	fams := gatherPedantic(t, &fakeSource{}, time.Now())
	if got := value(t, fams, "pgbun_ready", gauge, lbl{}); got != 0 {
		t.Errorf("pgbun_ready = %v, want 0", got)
	}
	if got := value(t, fams, "pgbun_build_info", gauge, lbl{"version": ""}); got != 1 {
		t.Errorf("pgbun_build_info = %v, want 1", got)
	}
	// Known label values are present at zero before the first event.
	for _, l := range []lbl{{"result": "ok"}, {"result": "failed"}} {
		if got := value(t, fams, "pgbun_reloads_total", counter, l); got != 0 {
			t.Errorf("pgbun_reloads_total%v = %v, want 0", l, got)
		}
	}
	for _, l := range []lbl{{"kind": "address"}, {"kind": "user"}} {
		if got := value(t, fams, "pgbun_auth_lockouts", gauge, l); got != 0 {
			t.Errorf("pgbun_auth_lockouts%v = %v, want 0", l, got)
		}
	}
	for _, name := range []string{"pgbun_pool_clients", "pgbun_transactions_total", "pgbun_logins_total", "pgbun_certificate_not_after_timestamp_seconds"} {
		if fams[name] != nil {
			t.Errorf("%s has series without any pool, database, login or certificate", name)
		}
	}
}

func TestDuplicatesAndInvalidUTF8Merge(t *testing.T) {
	notAfter := time.Unix(1800000000, 0)
	src := &fakeSource{
		pools: []snapshot.Pool{
			// "\xff" and "\xfe" both become U+FFFD: one series.
			{Database: "d\xff", User: "u", ClActive: 1, SvIdle: 1, MaxWait: time.Second},
			{Database: "d\xfe", User: "u", ClActive: 2, SvIdle: 3, MaxWait: 3 * time.Second},
			{Database: "d\xff", User: "u", ClWaiting: 4, MaxWait: 2 * time.Second},
		},
		stats: []snapshot.Stats{
			{Database: "x", Total: snapshot.Counters{Queries: 1, QueryTime: time.Second}},
			{Database: "x", Total: snapshot.Counters{Queries: 2, QueryTime: time.Second}},
		},
		events: snapshot.Events{
			Logins:        map[string]uint64{"md5/ok": 1, "md\xff/ok": 2, "md\xfe/ok": 3, "odd": 4},
			TLSHandshakes: map[string]uint64{"v\xff": 1, "v\xfe": 1},
		},
		certs: []snapshot.Cert{
			{Names: []string{"a", "a"}, Serial: "1", Source: "acme", NotAfter: notAfter},
			{Names: []string{"a"}, Serial: "1", Source: "acme", NotAfter: notAfter.Add(-time.Hour)},
			{Subject: "CN=nameless", Serial: "2", Source: "acme", NotAfter: notAfter},
			{Names: []string{"never"}, Serial: "3", Source: "acme"}, // no expiry known
		},
		lockouts: []snapshot.Lockout{
			{Kind: "address", Until: time.Unix(2000, 0)},
			{Kind: "address", Until: time.Unix(1000, 0)}, // expired at now
			{Kind: "peer\xff", Until: time.Unix(2000, 0)},
		},
	}
	fams := gatherPedantic(t, src, time.Unix(1000, 0))

	pool := func(state string) lbl { return lbl{"database": "d\uFFFD", "user": "u", "state": state} }
	tests := []struct {
		name   string
		typ    dto.MetricType
		labels lbl
		want   float64
	}{
		{"pgbun_pool_clients", gauge, pool("active"), 3},
		{"pgbun_pool_clients", gauge, pool("waiting"), 4},
		{"pgbun_pool_servers", gauge, pool("idle"), 4},
		{"pgbun_pool_max_wait_seconds", gauge, lbl{"database": "d\uFFFD", "user": "u"}, 3},
		{"pgbun_queries_total", counter, lbl{"database": "x"}, 3},
		{"pgbun_query_seconds_total", counter, lbl{"database": "x"}, 2},
		{"pgbun_logins_total", counter, lbl{"method": "md5", "result": "ok"}, 1},
		{"pgbun_logins_total", counter, lbl{"method": "md\uFFFD", "result": "ok"}, 5},
		{"pgbun_logins_total", counter, lbl{"method": "odd", "result": "unknown"}, 4},
		{"pgbun_tls_handshakes_total", counter, lbl{"version": "v\uFFFD"}, 2},
		{"pgbun_certificate_not_after_timestamp_seconds", gauge,
			lbl{"name": "a", "source": "acme", "serial": "1"}, float64(notAfter.Add(-time.Hour).Unix())},
		{"pgbun_certificate_not_after_timestamp_seconds", gauge,
			lbl{"name": "CN=nameless", "source": "acme", "serial": "2"}, float64(notAfter.Unix())},
		{"pgbun_auth_lockouts", gauge, lbl{"kind": "address"}, 1},
		{"pgbun_auth_lockouts", gauge, lbl{"kind": "user"}, 0},
		{"pgbun_auth_lockouts", gauge, lbl{"kind": "peer\uFFFD"}, 1},
	}
	for _, tc := range tests {
		if got := value(t, fams, tc.name, tc.typ, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if n := len(fams["pgbun_certificate_not_after_timestamp_seconds"].GetMetric()); n != 2 {
		t.Errorf("certificate series: %d, want 2 (a certificate without expiry is left out)", n)
	}
}

func TestLabelValuesAreEscaped(t *testing.T) {
	// Names are user-controlled; quotes, backslashes and newlines must come
	// back intact as label values and must not create series or metrics.
	db := "we\"ird\\db\nname} x 1"
	src := &fakeSource{pools: []snapshot.Pool{{Database: db, User: "pgbun_pool_servers", SvIdle: 6}}}
	srv := httptest.NewServer(NewHandler(src))
	defer srv.Close()
	fams := scrapeServer(t, srv)
	if got := value(t, fams, "pgbun_pool_servers", gauge, lbl{"database": db, "user": "pgbun_pool_servers", "state": "idle"}); got != 6 {
		t.Errorf("pgbun_pool_servers = %v, want 6", got)
	}
	if n := len(fams["pgbun_pool_servers"].GetMetric()); n != len(serverStates) {
		t.Errorf("pgbun_pool_servers: %d series, want %d", n, len(serverStates))
	}
}

func TestNotOnGlobalRegistry(t *testing.T) {
	_ = NewHandler(fullSource())
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatalf("gather default registry: %v", err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "pgbun_") {
			t.Fatalf("%s is registered on the global registry", mf.GetName())
		}
	}
}
