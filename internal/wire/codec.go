package wire

import "encoding/binary"

// The protocol's integers are big-endian. Int16 and Int32 fields are
// signed (lengths use -1 for NULL or "absent"); counts, object ids,
// protocol codes and process ids are best read as unsigned, as PostgreSQL
// itself reads them. The readers split a value off the front of b and
// report ok false, leaving b whole, when b is too short.

// AppendInt16 appends v as an Int16.
func AppendInt16(dst []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(dst, uint16(v))
}

// AppendUint16 appends v as an Int16 read as unsigned (a count).
func AppendUint16(dst []byte, v uint16) []byte {
	return binary.BigEndian.AppendUint16(dst, v)
}

// AppendInt32 appends v as an Int32.
func AppendInt32(dst []byte, v int32) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(v))
}

// AppendUint32 appends v as an Int32 read as unsigned (an OID, a code, a
// process id).
func AppendUint32(dst []byte, v uint32) []byte {
	return binary.BigEndian.AppendUint32(dst, v)
}

// Uint16 reads an Int16 as unsigned from the front of b.
func Uint16(b []byte) (v uint16, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, b, false
	}
	return binary.BigEndian.Uint16(b), b[2:], true
}

// Int32 reads an Int32 from the front of b.
func Int32(b []byte) (v int32, rest []byte, ok bool) {
	u, rest, ok := Uint32(b)
	return int32(u), rest, ok
}

// Uint32 reads an Int32 as unsigned from the front of b.
func Uint32(b []byte) (v uint32, rest []byte, ok bool) {
	if len(b) < 4 {
		return 0, b, false
	}
	return binary.BigEndian.Uint32(b), b[4:], true
}

// AppendMessage appends a whole typed message with the given body.
func AppendMessage(dst []byte, typ byte, body []byte) []byte {
	dst = append(dst, typ)
	dst = AppendUint32(dst, uint32(len(body)+4))
	return append(dst, body...)
}

// AppendCString appends s and its terminating NUL.
func AppendCString(dst []byte, s string) []byte {
	return append(append(dst, s...), 0)
}

// AppendSync appends a Sync message.
func AppendSync(dst []byte) []byte {
	return append(dst, 'S', 0, 0, 0, 4)
}

// AppendEmptyQueryResponse appends EmptyQueryResponse, the answer to a
// Query holding no statement.
func AppendEmptyQueryResponse(dst []byte) []byte {
	return append(dst, 'I', 0, 0, 0, 4)
}

// Field describes one column of a RowDescription.
type Field struct {
	Name     string
	TableOID uint32 // 0: not a table column
	Column   int16  // attribute number in that table, 0 if none
	TypeOID  uint32
	TypeSize int16 // negative: variable width
	TypeMod  int32 // -1: none
	Format   int16 // 0 text, 1 binary
}

// AppendField appends f as one entry of a RowDescription body, which
// starts with the field count (AppendInt16).
func AppendField(dst []byte, f Field) []byte {
	dst = AppendCString(dst, f.Name)
	dst = AppendUint32(dst, f.TableOID)
	dst = AppendInt16(dst, f.Column)
	dst = AppendUint32(dst, f.TypeOID)
	dst = AppendInt16(dst, f.TypeSize)
	dst = AppendInt32(dst, f.TypeMod)
	return AppendInt16(dst, f.Format)
}

// AppendValue appends a length-prefixed value, as DataRow columns and Bind
// parameters carry them.
func AppendValue(dst []byte, v string) []byte {
	dst = AppendInt32(dst, int32(len(v)))
	return append(dst, v...)
}

// AppendNull appends a NULL where AppendValue would append a value.
func AppendNull(dst []byte) []byte {
	return AppendInt32(dst, -1)
}

// Value reads one length-prefixed value (a DataRow column, a Bind
// parameter) from the front of b. null reports a length of -1; ok is
// false when the length is missing, below -1 or past the end of b. v
// aliases b.
func Value(b []byte) (v []byte, null bool, rest []byte, ok bool) {
	n, r, ok := Int32(b)
	switch {
	case !ok || n < -1:
		return nil, false, b, false
	case n == -1:
		return nil, true, r, true
	case int64(n) > int64(len(r)):
		return nil, false, b, false
	}
	return r[:n:n], false, r[n:], true
}
