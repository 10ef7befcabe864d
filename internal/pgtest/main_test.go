package pgtest

import (
	"context"
	"os"
	"testing"
	"time"
)

// pg is the cluster shared by the tests that do not stop or restart it.
var pg *Cluster

// clusterName and rawSetting exercise the quoting of postgresql.conf values;
// a custom (dotted) parameter takes any text.
const (
	clusterName = `pgtest's \cluster`
	rawSetting  = "a'b\\c\nd\te ü ''"
)

func TestMain(m *testing.M) {
	os.Exit(Main(m, Options{Settings: map[string]string{
		"cluster_name": clusterName,
		"work_mem":     "8MB",
		"pgtest.raw":   rawSetting,
	}}, &pg))
}

// testCtx is a context for one test, bounded so a hung server fails the test
// instead of the whole binary.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
