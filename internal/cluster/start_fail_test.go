package cluster

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestStartFailuresCleanUp checks that every way Start can fail returns an
// error that says why and leaves neither a directory nor a process behind.
// It points TMPDIR at a directory of its own to see what is left, so it
// cannot run in parallel.
func TestStartFailuresCleanUp(t *testing.T) {
	tmp, err := os.MkdirTemp("", "cluster-tmpdir-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	// The server's user must be able to reach the cluster directories.
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	// The first Start also sweeps this leftover of a process that is gone.
	makeClusterDir(t, tmp, tempPrefix+"stale", deadOwner(t))

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		opts    Options
		pick    func() (int, error)
		wantErr []string
		check   func(*testing.T, error)
	}{
		{
			name:    "managed setting",
			opts:    Options{Settings: map[string]string{"Port": "5432"}},
			wantErr: []string{`setting "Port" is chosen by the cluster harness`},
		},
		{
			name:    "malformed setting name",
			opts:    Options{Settings: map[string]string{"a = b": "c"}},
			wantErr: []string{"not a parameter name"},
		},
		{
			name:    "invalid setting value",
			opts:    Options{Settings: map[string]string{"shared_buffers": "lots"}},
			wantErr: []string{"postmaster exited", "server log:", "shared_buffers"},
		},
		{
			name:    "invalid hba line",
			opts:    Options{HBA: []string{"local all all trust", "hostssl all"}},
			wantErr: []string{"postmaster exited", "pg_hba.conf"},
		},
		{
			name:    "hba without superuser socket access",
			opts:    Options{HBA: []string{"hostssl all all 127.0.0.1/32 md5"}},
			wantErr: []string{"refuses the superuser", "no pg_hba.conf entry"},
		},
		{
			name:    "hba asking the superuser for a password",
			opts:    Options{HBA: []string{"local all all scram-sha-256"}},
			wantErr: []string{"refuses the superuser", "asks the superuser to authenticate"},
		},
		{
			name:    "hba line break",
			opts:    Options{HBA: []string{"local all all trust\nhost all all 0.0.0.0/0 trust"}},
			wantErr: []string{"line break"},
		},
		{
			name:    "canceled context",
			ctx:     canceled,
			wantErr: []string{"initdb", "context canceled"},
		},
		{
			name:    "port always taken",
			pick:    func() (int, error) { return holdPort(t), nil },
			wantErr: []string{"could not bind"},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errPortInUse) {
					t.Errorf("error does not match errPortInUse: %v", err)
				}
			},
		},
		{
			name:    "port picker fails",
			pick:    func() (int, error) { return 0, errors.New("no ports today") },
			wantErr: []string{"no ports today"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = testCtx(t)
			}
			pick := tc.pick
			if pick == nil {
				pick = FreePort
			}
			c, err := start(ctx, tc.opts, pick)
			if err == nil {
				c.Stop()
				t.Fatal("Start succeeded")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if tc.check != nil {
				tc.check(t, err)
			}
			left, err := os.ReadDir(tmp)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 0 {
				t.Errorf("Start left %d entries in TMPDIR, first %s", len(left), left[0].Name())
			}
		})
	}
}
