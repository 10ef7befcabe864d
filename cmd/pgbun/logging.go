package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/pgbun/pgbun/internal/logline"
)

// logFile is an append-only log file that can be reopened in place (after
// log rotation moved it away). Safe for concurrent use.
type logFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openLogFile(path string) (*logFile, error) {
	l := &logFile{path: path}
	return l, l.Reopen()
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen closes and reopens the file by its path.
func (l *logFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open logfile: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// newLogger logs to stderr (unless quiet) and to the logfile, at info
// level, or debug with any verbosity, as PgBouncer-style text lines or
// JSON (log_format).
func newLogger(quiet bool, verbose int, file *logFile, format string) (*slog.Logger, *slog.LevelVar) {
	var ws []io.Writer
	if !quiet {
		ws = append(ws, os.Stderr)
	}
	if file != nil {
		ws = append(ws, file)
	}
	level := new(slog.LevelVar)
	if verbose > 0 {
		level.Set(slog.LevelDebug)
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(io.MultiWriter(ws...), opts)), level
	}
	return slog.New(logline.New(io.MultiWriter(ws...), level)), level
}
