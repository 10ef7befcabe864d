package logline

import (
	"bytes"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(New(&b, slog.LevelInfo)).With("client", "127.0.0.1:5000")
	log.Debug("not shown")
	log.Info(`closing because: "trust" authentication failed (age=0s)`, "user", "no such", "err", errors.New("x=1"),
		"took", 1500*time.Millisecond, slog.Group("tls", "version", "TLSv1.3"), "empty", "")
	log.WithGroup("g").Warn("two\nlines", "k", 1)
	want := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ \[\d+\] LOG closing because: "trust" authentication failed \(age=0s\) client=127\.0\.0\.1:5000 user="no such" err="x=1" took=1\.5s tls\.version=TLSv1\.3 empty=""\n` +
		`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ \[\d+\] WARNING two\\nlines client=127\.0\.0\.1:5000 g\.k=1\n$`)
	if !want.Match(b.Bytes()) {
		t.Fatalf("log:\n%s", b.String())
	}
}

// FuzzMessage: whatever a message holds, the record is one line of
// printable text that starts as the message does up to its first
// character needing an escape.
func FuzzMessage(f *testing.F) {
	f.Add("plain")
	f.Add("a\nb\r\x1b[31mred\xff\u2028")
	f.Fuzz(func(t *testing.T, msg string) {
		var b bytes.Buffer
		slog.New(New(&b, slog.LevelInfo)).Info(msg, "k", msg)
		line := b.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one line: %q", line)
		}
		if !utf8.ValidString(line) {
			t.Fatalf("invalid UTF-8 in %q", line)
		}
		for _, r := range strings.TrimSuffix(line, "\n") {
			if !unicode.IsPrint(r) {
				t.Fatalf("unprintable %q in %q", r, line)
			}
		}
	})
}
