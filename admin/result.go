package admin

import (
	"strconv"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
)

// kind is a result column's type, as PgBouncer declares it.
type kind uint8

const (
	kText    kind = iota // text
	kInt4                // int4
	kInt8                // int8
	kNumeric             // numeric (PgBouncer's statistics counters)
	kBytea               // bytea
)

// PostgreSQL type OIDs and sizes for RowDescription.
func (k kind) oid() (oid uint32, size int16) {
	switch k {
	case kInt4:
		return 23, 4
	case kInt8:
		return 20, 8
	case kNumeric:
		return 1700, -1
	case kBytea:
		return 17, -1
	default:
		return 25, -1
	}
}

// column is one column of a result set.
type column struct {
	name string
	kind kind
}

// cell is one value of a row: its text form, or NULL.
type cell struct {
	s    string
	null bool
}

func txt(s string) cell { return cell{s: s} }

// txtOrNull is NULL for "", as PgBouncer sends unset strings.
func txtOrNull(s string) cell { return cell{s: s, null: s == ""} }

func num(n int64) cell   { return cell{s: strconv.FormatInt(n, 10)} }
func unum(n uint64) cell { return cell{s: strconv.FormatUint(n, 10)} }
func inum(n int) cell    { return num(int64(n)) }

// flag is PgBouncer's 0/1 rendering of booleans in int4 columns.
func flag(b bool) cell {
	if b {
		return cell{s: "1"}
	}
	return cell{s: "0"}
}

func yesNo(b bool) cell {
	if b {
		return cell{s: "yes"}
	}
	return cell{s: "no"}
}

// timeFormat is how PgBouncer prints timestamps in SHOW output: local
// time to the second, with the zone's abbreviation.
const timeFormat = "2006-01-02 15:04:05 MST"

// stamp renders t as PgBouncer does; PgBouncer prints the current time
// for a timestamp it never set, and so do we.
func stamp(t time.Time) cell {
	if t.IsZero() {
		t = time.Now()
	}
	return cell{s: t.Local().Format(timeFormat)}
}

// stampOrNull renders t like stamp, or NULL when it is unset; pgbun's own
// columns make no guess.
func stampOrNull(t time.Time) cell {
	if t.IsZero() {
		return cell{null: true}
	}
	return stamp(t)
}

// flushAt is how much output the console buffers before writing: large
// results (thousands of clients) go out in pieces of about this size.
const flushAt = 64 << 10

// resultSet writes one result (RowDescription, DataRows, CommandComplete)
// into the session's output buffer.
type resultSet struct {
	s    *session
	cols []column
	err  error // first write error; later rows are dropped
}

// result starts a result set with the given columns.
func (s *session) result(cols []column) *resultSet {
	dst, st := wire.AppendHeader(s.out, 'T')
	dst = wire.AppendUint16(dst, uint16(len(cols)))
	for _, c := range cols {
		oid, size := c.kind.oid()
		dst = wire.AppendField(dst, wire.Field{Name: c.name, TypeOID: oid, TypeSize: size, TypeMod: -1})
	}
	s.out = wire.Finish(dst, st)
	return &resultSet{s: s, cols: cols}
}

// row appends one DataRow; vals must match the columns one for one.
func (rs *resultSet) row(vals ...cell) {
	if rs.err != nil {
		return
	}
	s := rs.s
	dst, st := wire.AppendHeader(s.out, 'D')
	dst = wire.AppendUint16(dst, uint16(len(vals)))
	for _, v := range vals {
		if v.null {
			dst = wire.AppendNull(dst)
			continue
		}
		dst = wire.AppendValue(dst, v.s)
	}
	s.out = wire.Finish(dst, st)
	if len(s.out) >= flushAt {
		rs.err = s.flush()
	}
}

// done finishes the result with PgBouncer's tag for every SHOW.
func (rs *resultSet) done() error {
	if rs.err != nil {
		return rs.err
	}
	rs.s.complete("SHOW")
	return nil
}

// complete appends CommandComplete with tag.
func (s *session) complete(tag string) {
	dst, st := wire.AppendHeader(s.out, 'C')
	dst = append(dst, tag...)
	dst = append(dst, 0)
	s.out = wire.Finish(dst, st)
}

// notice appends a NoticeResponse (severity NOTICE, SQLSTATE 00000).
func (s *session) notice(msg, detail string) {
	dst, st := wire.AppendHeader(s.out, 'N')
	field := func(t byte, v string) {
		dst = append(dst, t)
		dst = append(dst, v...)
		dst = append(dst, 0)
	}
	field('S', "NOTICE")
	field('V', "NOTICE")
	field('C', "00000")
	field('M', msg)
	if detail != "" {
		field('D', detail)
	}
	dst = append(dst, 0)
	s.out = wire.Finish(dst, st)
}
