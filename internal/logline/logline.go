// Package logline writes pgbun's text log: one line per record, laid out
// as PgBouncer lays out its own,
//
//	2026-12-07 23:17:08.123 UTC [4242] LOG closing because: client close request (age=3s) client=127.0.0.1:50312 user=app database=app
//
// so that what reads a PgBouncer log (people, grep, alerting rules, log
// analysers) reads pgbun's. The message is written as it is; the
// attributes follow as key=value, a value quoted only when it must be.
package logline

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Handler is a slog.Handler writing PgBouncer-style lines.
type Handler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	pid   string
	attrs []byte // formatted attributes from WithAttrs
	group string // key prefix from WithGroup, "" or ending in "."
}

// New returns a handler writing to w records at or above level.
func New(w io.Writer, level slog.Leveler) *Handler {
	return &Handler{mu: new(sync.Mutex), w: w, level: level, pid: strconv.Itoa(os.Getpid())}
}

func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// levelName is PgBouncer's name for a level.
func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "LOG"
	}
	return "DEBUG"
}

func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	buf := make([]byte, 0, 256)
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	buf = t.AppendFormat(buf, "2006-01-02 15:04:05.000 MST")
	buf = append(buf, " ["...)
	buf = append(buf, h.pid...)
	buf = append(buf, "] "...)
	buf = append(buf, levelName(r.Level)...)
	buf = append(buf, ' ')
	buf = appendMessage(buf, r.Message)
	buf = append(buf, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		buf = appendAttr(buf, h.group, a)
		return true
	})
	buf = append(buf, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf)
	return err
}

func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]byte(nil), h.attrs...)
	for _, a := range as {
		c.attrs = appendAttr(c.attrs, h.group, a)
	}
	return &c
}

func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group = h.group + name + "."
	return &c
}

// appendMessage writes the message as it is, except for what is not
// printable (line breaks, control characters, invalid UTF-8), which is
// escaped: a record must never look like two, and a name a client chose
// must not write to the terminal of whoever reads the log.
func appendMessage(buf []byte, msg string) []byte {
	for len(msg) > 0 {
		r, n := utf8.DecodeRuneInString(msg)
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			q := strconv.QuoteToASCII(msg[:n]) // \n, \x1b, \xff, \u2028
			buf = append(buf, q[1:len(q)-1]...)
		} else {
			buf = append(buf, msg[:n]...)
		}
		msg = msg[n:]
	}
	return buf
}

func appendAttr(buf []byte, prefix string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return buf
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			buf = appendAttr(buf, p, g)
		}
		return buf
	}
	buf = append(buf, ' ')
	buf = append(buf, prefix...)
	buf = append(buf, a.Key...)
	buf = append(buf, '=')
	var s string
	switch a.Value.Kind() {
	case slog.KindTime:
		s = a.Value.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			s = err.Error()
		} else {
			s = a.Value.String()
		}
	default:
		s = a.Value.String()
	}
	if needsQuote(s) {
		return strconv.AppendQuote(buf, s)
	}
	return append(buf, s...)
}

func needsQuote(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return true
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return r == ' ' || r == '=' || r == '"' || !unicode.IsPrint(r)
	}) >= 0
}
