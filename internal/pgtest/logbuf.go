package pgtest

import (
	"bytes"
	"sync"
)

// LogBuffer collects log output from concurrent writers (a slog handler,
// a subprocess's stderr) so that a test can assert on it or show its end
// when it fails.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Tail returns at most the last n bytes written, marked with "..." when
// cut.
func (l *LogBuffer) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b.Bytes()
	if len(b) > n {
		return "..." + string(b[len(b)-n:])
	}
	return string(b)
}
