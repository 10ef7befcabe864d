package gateway

import (
	"fmt"
	"log/slog"
	"os"
)

// audit writes security events as one JSON object per line (audit_log):
// logins and their failures, throttling, policy rejections, TLS handshake
// failures, certificate events. It never carries a password or secret:
// callers pass names, addresses and reasons only. A nil *audit drops
// everything.
type audit struct {
	log  *slog.Logger
	file *os.File // nil for stderr
}

// openAudit opens the audit log: "" disables it, "stderr" writes there,
// anything else is a file appended to.
func openAudit(target string) (*audit, error) {
	switch target {
	case "":
		return nil, nil
	case "stderr":
		return &audit{log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}, nil
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit_log: %w", err)
	}
	return &audit{log: slog.New(slog.NewJSONHandler(f, nil)), file: f}, nil
}

// event records one event with key/value attributes.
func (a *audit) event(name string, attrs ...any) {
	if a == nil {
		return
	}
	a.log.Info(name, attrs...)
}

func (a *audit) close() {
	if a != nil && a.file != nil {
		a.file.Close()
	}
}
