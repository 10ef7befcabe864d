package certs

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestZapToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	z := zapToSlog(l).Named("obtain").With(zap.String("identifier", "db.pgbun.test"))
	z.Debug("below the level")
	z.Warn("renewing", zap.Duration("remaining", 5*time.Second),
		zap.Error(errors.New("boom")), zap.Strings("names", []string{"a", "b"}))
	z.Error("failed")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 records (debug filtered), got %d:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"level": "WARN", "msg": "renewing", "logger": "certmagic.obtain",
		"identifier": "db.pgbun.test", "error": "boom", "remaining": float64(5 * time.Second),
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, rec[k], rec[k], v)
		}
	}
	if names, _ := rec["names"].([]any); len(names) != 2 || names[0] != "a" {
		t.Errorf("names = %v", rec["names"])
	}
	// Context fields come before the call site's, which keep their order.
	if i, j := strings.Index(lines[0], `"identifier"`), strings.Index(lines[0], `"remaining"`); i > j || j > strings.Index(lines[0], `"error"`) {
		t.Errorf("fields out of order: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"level":"ERROR"`) {
		t.Errorf("error record: %s", lines[1])
	}
}
