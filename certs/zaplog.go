package certs

import (
	"context"
	"log/slog"
	"maps"
	"slices"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapToSlog returns a zap logger whose entries go to log, so certmagic's
// records land in pgbun's log with pgbun's format and level filter. Each
// record carries the zap logger's name ("certmagic.obtain", ...) as
// attribute "logger".
func zapToSlog(log *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{log: log}).Named("certmagic")
}

// slogCore is a zapcore.Core that forwards each entry to a slog.Logger.
// Fields are encoded once, when With or Write receives them.
type slogCore struct {
	log   *slog.Logger
	attrs []any // slog.Attr values from With, in order
}

var _ zapcore.Core = (*slogCore)(nil)

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.log.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	attrs := make([]any, 0, len(c.attrs)+len(fields))
	attrs = append(attrs, c.attrs...)
	attrs = appendFields(attrs, fields)
	return &slogCore{log: c.log, attrs: attrs}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	attrs := make([]any, 0, len(c.attrs)+len(fields)+1)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	attrs = append(attrs, c.attrs...)
	attrs = appendFields(attrs, fields)
	c.log.Log(context.Background(), slogLevel(e.Level), e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// appendFields encodes zap fields with zap's own map encoder, which knows
// every field type (durations, times, errors, arrays, objects).
func appendFields(attrs []any, fields []zapcore.Field) []any {
	if len(fields) == 0 {
		return attrs
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	// Keep the call site's order: the map encoder does not. Fields that
	// write under other keys (namespaces, inlined objects) follow, sorted.
	for _, f := range fields {
		if v, ok := enc.Fields[f.Key]; ok {
			attrs = append(attrs, slog.Any(f.Key, v))
			delete(enc.Fields, f.Key)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	return attrs
}
