package metrics

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pgbun/pgbun/internal/snapshot"
)

// FuzzLabelValues feeds arbitrary, user-controlled names through a scrape
// and checks that the exposition still parses and that each name comes
// back as exactly the label value it should, whatever bytes it holds.
func FuzzLabelValues(f *testing.F) {
	f.Add("app", "alice", "1.0", "db.example.com", "scram-sha-256/ok")
	f.Add("we\"ird", "back\\slash", "", "new\nline", "md5")
	f.Add("\xff\xfe", "\x00", "v\u00e9rsion", "", "/")
	f.Add("} 1\npgbun_ready 0", "a=\"b\"", "#", "*.x", "a/b/c")
	f.Fuzz(func(t *testing.T, db, user, version, certName, loginKey string) {
		src := &fakeSource{
			version: version,
			pools:   []snapshot.Pool{{Database: db, User: user, ClWaiting: 7}},
			stats:   []snapshot.Stats{{Database: db, Total: snapshot.Counters{Queries: 9}}},
			events:  snapshot.Events{Logins: map[string]uint64{loginKey: 3}, TLSHandshakes: map[string]uint64{"TLSv1.3": 1}},
			certs:   []snapshot.Cert{{Names: []string{certName}, Serial: user, Source: db, NotAfter: time.Unix(1700000000, 0)}},
		}
		rec := httptest.NewRecorder()
		newHandler(src, failLogger(t)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		fams := parseText(t, strings.NewReader(rec.Body.String()))

		for name := range fams {
			if !strings.HasPrefix(name, "pgbun_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
				t.Fatalf("unexpected metric %q: a name leaked into the metric names", name)
			}
		}
		if n := len(pgbunFamilies(fams)); n != len(allDescs) {
			t.Fatalf("%d pgbun_ families, want %d", n, len(allDescs))
		}
		d, u := label(db), label(user)
		if got := value(t, fams, "pgbun_pool_clients", gauge, lbl{"database": d, "user": u, "state": "waiting"}); got != 7 {
			t.Fatalf("pgbun_pool_clients = %v, want 7", got)
		}
		if got := value(t, fams, "pgbun_queries_total", counter, lbl{"database": d}); got != 9 {
			t.Fatalf("pgbun_queries_total = %v, want 9", got)
		}
		if got := value(t, fams, "pgbun_build_info", gauge, lbl{"version": label(version)}); got != 1 {
			t.Fatalf("pgbun_build_info = %v, want 1", got)
		}
		method, result := splitLoginKey(loginKey)
		if got := value(t, fams, "pgbun_logins_total", counter, lbl{"method": label(method), "result": label(result)}); got != 3 {
			t.Fatalf("pgbun_logins_total = %v, want 3", got)
		}
		if got := value(t, fams, "pgbun_certificate_not_after_timestamp_seconds", gauge,
			lbl{"name": label(certName), "source": d, "serial": u}); got != 1700000000 {
			t.Fatalf("pgbun_certificate_not_after_timestamp_seconds = %v", got)
		}
	})
}

// failLogger returns a logger that fails t on any message: the handler
// logs only collection errors, and those mean a bug.
func failLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(failWriter{t}, nil))
}

type failWriter struct{ t *testing.T }

func (w failWriter) Write(p []byte) (int, error) {
	w.t.Errorf("unexpected log: %s", p)
	return len(p), nil
}
