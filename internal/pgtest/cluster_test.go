package pgtest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSuperConn checks that SuperConn logs in as the superuser over the
// Unix socket, on the shared cluster Main started with its Options.
func TestSuperConn(t *testing.T) {
	ctx := testCtx(t)
	// The caller's libpq environment must not redirect the connection.
	t.Setenv("PGHOST", "/nonexistent")
	t.Setenv("PGPORT", "1")
	t.Setenv("PGUSER", "nobody")
	t.Setenv("PGSSLMODE", "require")
	conn, err := pg.SuperConn(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var user, name, raw string
	var tcp bool
	if err := conn.QueryRow(ctx, "SELECT current_user, current_setting('cluster_name'), "+
		"current_setting('pgtest.raw'), inet_server_addr() IS NOT NULL").Scan(&user, &name, &raw, &tcp); err != nil {
		t.Fatal(err)
	}
	if user != "postgres" || name != clusterName || raw != rawSetting || tcp {
		t.Errorf("user %q, cluster_name %q, pgtest.raw %q, over TCP %v", user, name, raw, tcp)
	}
}

// TestClusterHelpersWithPgx drives the helpers Cluster takes from package
// cluster and checks their effect through pgx, as the tests using pgtest do.
func TestClusterHelpersWithPgx(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	t.Cleanup(func() {
		// DROP DATABASE runs alone: several statements in one Exec share a
		// transaction.
		for _, sql := range []string{`DROP DATABASE IF EXISTS "helper db"`, `DROP ROLE IF EXISTS "helper's role"`} {
			if err := pg.Exec(context.Background(), sql); err != nil {
				t.Error(err)
			}
		}
	})
	if err := pg.CreateRole(ctx, "helper's role", `pa'ss\word`, SCRAM); err != nil {
		t.Fatal(err)
	}
	if err := pg.CreateDatabase(ctx, "helper db", "helper's role"); err != nil {
		t.Fatal(err)
	}
	secret, err := pg.RoleSecret(ctx, "helper's role")
	if err != nil || !strings.HasPrefix(secret, "SCRAM-SHA-256$") {
		t.Fatalf("RoleSecret = %.20q..., %v", secret, err)
	}
	su, err := pg.SuperConn(ctx, "helper db")
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(context.Background())
	var owner string
	if err := su.QueryRow(ctx, "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()").
		Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner != "helper's role" {
		t.Errorf("owner = %q", owner)
	}
	// The certificates come from package localca under pgtest's names.
	var ca *CA = pg.CA()
	kp, err := ca.IssueClient("helper", ECDSAP256, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var _ *KeyPair = kp
}

// TestStartFailureReturnsNil checks that a failed Start hands back no
// Cluster, not one wrapping nothing.
func TestStartFailureReturnsNil(t *testing.T) {
	t.Setenv("PGBIN", t.TempDir())
	c, err := Start(testCtx(t), Options{})
	if err == nil || c != nil {
		t.Fatalf("Start = %v, %v; want nil and an error", c, err)
	}
	if !strings.Contains(err.Error(), "PostgreSQL server binaries not found") {
		t.Errorf("error = %v", err)
	}
}
