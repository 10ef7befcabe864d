package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
)

func TestExecReportsServerErrors(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	err := pg.Exec(ctx, "SELECT 1; SELECT * FROM no_such_table; SELECT 2")
	e, ok := wire.AsError(err)
	if !ok {
		t.Fatalf("Exec error %v is not a server error", err)
	}
	if e.Code != "42P01" || !strings.Contains(e.Message, "no_such_table") {
		t.Errorf("error = %+v, want undefined_table about no_such_table", e)
	}
	// The statements of one Exec share a session; its temporary table is
	// gone with it.
	if err := pg.Exec(ctx, "CREATE TEMP TABLE exec_tmp (x int); INSERT INTO exec_tmp VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec(ctx, "SELECT * FROM exec_tmp"); err == nil {
		t.Error("a temporary table outlived its Exec")
	}
}

func TestExecRefusesCopyFromStdin(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s, err := pg.superSession(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.exec("CREATE TEMP TABLE copy_t (x int); COPY copy_t FROM STDIN"); err == nil ||
		!strings.Contains(err.Error(), "COPY FROM STDIN is not supported") {
		t.Errorf("COPY FROM STDIN: %v", err)
	}
	// The session is ready for more afterwards.
	row, ok, err := s.queryRow("SELECT $1::text || 'b'", "a")
	if err != nil || !ok || len(row) != 1 || row[0] == nil || *row[0] != "ab" {
		t.Errorf("query after the refused COPY: %v, %v, %v", row, ok, err)
	}
}

func TestQueryRowColumns(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s, err := pg.superSession(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	arg := "it's a \"test\" \\ ü"
	row, ok, err := s.queryRow("SELECT $1::text, NULL::text, '', $2::int + 1 FROM generate_series(1, 3)", arg, "41")
	if err != nil || !ok {
		t.Fatalf("queryRow: %v, %v", ok, err)
	}
	var got []string
	for _, c := range row {
		if c == nil {
			got = append(got, "<nil>")
		} else {
			got = append(got, *c)
		}
	}
	if want := []string{arg, "<nil>", "", "42"}; !slices.Equal(got, want) {
		t.Errorf("row = %q, want %q", got, want)
	}
	if _, ok, err := s.queryRow("SELECT 1 WHERE $1 = 'x'", "y"); err != nil || ok {
		t.Errorf("query without rows: ok %v, err %v", ok, err)
	}
	if _, _, err := s.queryRow("SELECT $1::int", "not a number"); err == nil {
		t.Error("a bad parameter was accepted")
	}
	if _, ok, err := s.queryRow("SELECT 7"); err != nil || !ok {
		t.Errorf("query after an error: ok %v, err %v", ok, err)
	}
}

func TestCreateDatabaseQuotesNames(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	name := `we"ird db`
	t.Cleanup(func() {
		if err := pg.Exec(context.Background(), "DROP DATABASE IF EXISTS "+quoteIdent(name)); err != nil {
			t.Error(err)
		}
	})
	if err := pg.CreateDatabase(ctx, name, ""); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := superConn(t, pg, name).QueryRow(ctx, "SELECT current_database()").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != name {
		t.Errorf("current_database() = %q, want %q", got, name)
	}
}

func TestExecEndsWithContext(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pg.Exec(canceled, "SELECT 1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Exec with a canceled context: %v", err)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := pg.Exec(ctx, "SELECT pg_sleep(5)")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exec past its deadline: %v", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("Exec took %v after its deadline", d)
	}
	if _, err := pg.RoleSecret(ctx, "postgres"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RoleSecret after the deadline: %v", err)
	}
}

func TestDecodeRowRejectsMalformedRows(t *testing.T) {
	t.Parallel()
	for _, body := range [][]byte{
		nil,
		{0},
		{0, 1},
		{0, 1, 0, 0, 0},
		{0, 1, 0, 0, 0, 5, 'a'},
		{0, 2, 0xff, 0xff, 0xff, 0xff},
	} {
		if row, err := decodeRow(body); err == nil {
			t.Errorf("decodeRow(%v) = %v, want an error", body, row)
		}
	}
	row, err := decodeRow([]byte{0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 'h', 'i'})
	if err != nil || len(row) != 2 || row[0] != nil || row[1] == nil || *row[1] != "hi" {
		t.Errorf("decodeRow of NULL and \"hi\" = %v, %v", row, err)
	}
}
