package wire

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

type seen struct {
	typ  byte
	body string
	nil_ bool
}

type recorder struct {
	headers []byte
	msgs    []seen
	capture map[byte]bool
	stopAt  byte
}

func (r *recorder) Header(typ byte, n int) Action {
	r.headers = append(r.headers, typ)
	if typ == r.stopAt {
		return Stop
	}
	if r.capture[typ] {
		return Capture
	}
	return Pass
}

func (r *recorder) Message(typ byte, body []byte) {
	r.msgs = append(r.msgs, seen{typ, string(body), body == nil})
}

func msg(typ byte, body string) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)+4))
	return append(b, body...)
}

func stream() []byte {
	var b []byte
	b = append(b, msg('T', "row description")...)
	b = append(b, msg('D', "a data row of some length")...)
	b = append(b, msg('S', "TimeZone\x00UTC\x00")...)
	b = append(b, msg('C', "SELECT 1\x00")...)
	b = append(b, msg('Z', "I")...)
	b = append(b, msg('n', "")...)
	return b
}

// TestFeedEverySplit feeds the same stream cut at every possible pair of
// points and checks the Observer sees the same thing and every byte is
// forwarded exactly once, in order.
func TestFeedEverySplit(t *testing.T) {
	full := stream()
	for i := 0; i <= len(full); i++ {
		for j := i; j <= len(full); j++ {
			rec := &recorder{capture: map[byte]bool{'S': true, 'Z': true, 'n': true}}
			sc := NewScanner(rec)
			var out []byte
			var carry []byte
			for _, part := range [][]byte{full[:i], full[i:j], full[j:]} {
				p := append(append([]byte{}, carry...), part...)
				n, stopped := sc.Feed(p)
				if stopped {
					t.Fatal("unexpected stop")
				}
				out = append(out, p[:n]...)
				carry = p[n:]
			}
			if len(carry) != 0 || !bytes.Equal(out, full) {
				t.Fatalf("split %d/%d: forwarded %q, carry %q", i, j, out, carry)
			}
			if string(rec.headers) != "TDSCZn" {
				t.Fatalf("split %d/%d: headers %q", i, j, rec.headers)
			}
			want := []seen{{'S', "TimeZone\x00UTC\x00", false}, {'Z', "I", false}, {'n', "", false}}
			if len(rec.msgs) != len(want) {
				t.Fatalf("split %d/%d: messages %v", i, j, rec.msgs)
			}
			for k := range want {
				if rec.msgs[k] != want[k] {
					t.Fatalf("split %d/%d: message %d = %+v, want %+v", i, j, k, rec.msgs[k], want[k])
				}
			}
			if !sc.AtBoundary() {
				t.Fatal("not at boundary after whole stream")
			}
		}
	}
}

func TestFeedStopIsResumable(t *testing.T) {
	full := append(msg('Q', "select 1\x00"), msg('X', "")...)
	rec := &recorder{stopAt: 'X'}
	sc := NewScanner(rec)
	n, stopped := sc.Feed(full)
	if !stopped || n != len(full)-5 {
		t.Fatalf("n=%d stopped=%v", n, stopped)
	}
	n2, stopped2 := sc.Feed(full[n:])
	if !stopped2 || n2 != 0 {
		t.Fatalf("resume: n=%d stopped=%v", n2, stopped2)
	}
}

func TestFeedOversizedCapture(t *testing.T) {
	big := msg('S', string(bytes.Repeat([]byte("x"), MaxCapture+1)))
	rec := &recorder{capture: map[byte]bool{'S': true}}
	sc := NewScanner(rec)
	half := len(big) / 2
	n, _ := sc.Feed(big[:half])
	m, _ := sc.Feed(big[half:])
	if n+m != len(big) || len(rec.msgs) != 1 || !rec.msgs[0].nil_ {
		t.Fatalf("n=%d m=%d msgs=%v", n, m, rec.msgs)
	}
}

// oneByteReader returns at most k bytes per Read, to exercise carries.
type oneByteReader struct {
	r io.Reader
	k int
}

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > o.k {
		p = p[:o.k]
	}
	return o.r.Read(p)
}

func TestPumpCarriesPartialHeaders(t *testing.T) {
	full := stream()
	for k := 1; k <= 7; k++ {
		rec := &recorder{capture: map[byte]bool{'Z': true}}
		var out bytes.Buffer
		_, err := NewScanner(rec).Pump(&out, oneByteReader{bytes.NewReader(full), k}, make([]byte, 8))
		if pe, ok := err.(*PumpError); !ok || pe.Write || pe.Err != io.EOF {
			t.Fatalf("k=%d: err = %v", k, err)
		}
		if !bytes.Equal(out.Bytes(), full) || len(rec.msgs) != 1 || rec.msgs[0].body != "I" {
			t.Fatalf("k=%d: out %q msgs %v", k, out.Bytes(), rec.msgs)
		}
	}
}

func FuzzScanner(f *testing.F) {
	f.Add(stream(), 3)
	f.Add([]byte{'Z', 0, 0, 0, 5, 'I'}, 1)
	f.Add([]byte{'S', 0xff, 0xff, 0xff, 0xff, 1, 2}, 2)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		rec := &recorder{capture: map[byte]bool{'S': true, 'Z': true}, stopAt: 'X'}
		sc := NewScanner(rec)
		if cut < 0 {
			cut = -cut
		}
		cut %= len(data) + 1
		var fwd int
		carry := []byte{}
		for _, part := range [][]byte{data[:cut], data[cut:]} {
			p := append(carry, part...)
			n, stopped := sc.Feed(p)
			if n < 0 || n > len(p) {
				t.Fatalf("n=%d outside [0,%d]", n, len(p))
			}
			fwd += n
			carry = append([]byte{}, p[n:]...)
			if stopped {
				if carry[0] != 'X' {
					t.Fatalf("stopped at %q", carry[0])
				}
				return
			}
		}
		if fwd+len(carry) != len(data) {
			t.Fatalf("lost bytes: %d + %d != %d", fwd, len(carry), len(data))
		}
		if len(carry) >= 5 {
			t.Fatalf("carried %d bytes, a full header", len(carry))
		}
	})
}

// nullObserver captures ReadyForQuery, as the session pump does.
type nullObserver struct{ status byte }

func (o *nullObserver) Header(typ byte, _ int) Action {
	if typ == 'Z' {
		return Capture
	}
	return Pass
}

func (o *nullObserver) Message(_ byte, body []byte) {
	if len(body) == 1 {
		o.status = body[0]
	}
}

// TestFeedAllocatesNothing asserts the forwarding scan allocates nothing per
// message once warm, split captures included.
func TestFeedAllocatesNothing(t *testing.T) {
	full := stream()
	sc := NewScanner(&nullObserver{})
	half := len(full) - 3
	allocs := testing.AllocsPerRun(1000, func() {
		n, _ := sc.Feed(full[:half])
		sc.Feed(full[n:])
	})
	if allocs != 0 {
		t.Fatalf("Feed allocated %.1f times per run", allocs)
	}
}

// chunks serves one buffer n times, as a server streaming result rows.
type chunks struct {
	one []byte
	n   int
	off int
}

func (c *chunks) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, io.EOF
	}
	k := copy(p, c.one[c.off:])
	c.off += k
	if c.off == len(c.one) {
		c.off = 0
		c.n--
	}
	return k, nil
}

// BenchmarkPump forwards b.N chunks of 65 messages (64 DataRows and a
// ReadyForQuery) through one Pump: allocs/op is per chunk, and must be 0.
func BenchmarkPump(b *testing.B) {
	var one []byte
	for range 64 {
		one = append(one, msg('D', "0123456789012345678901234567890123456789")...)
	}
	one = append(one, msg('Z', "I")...)
	sc := NewScanner(&nullObserver{})
	buf := make([]byte, 16384)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	b.ResetTimer()
	src := &chunks{one: one, n: b.N}
	if _, err := sc.Pump(io.Discard, src, buf); err.(*PumpError).Err != io.EOF {
		b.Fatal(err)
	}
}

type dropper struct{ seen []byte }

func (d *dropper) Header(typ byte, n int) Action {
	if typ == '1' {
		return Drop
	}
	d.seen = append(d.seen, typ)
	return Pass
}
func (d *dropper) Message(byte, []byte) {}

func TestFeedDrop(t *testing.T) {
	var full []byte
	full = append(full, msg('1', "")...)
	full = append(full, msg('2', "")...)
	full = append(full, msg('1', "")...)
	full = append(full, msg('D', "row")...)
	full = append(full, msg('Z', "I")...)
	want := append(append(msg('2', ""), msg('D', "row")...), msg('Z', "I")...)
	for cut := 0; cut <= len(full); cut++ {
		sc := NewScanner(&dropper{})
		var out []byte
		var carry []byte
		for _, part := range [][]byte{full[:cut], full[cut:]} {
			p := append(append([]byte{}, carry...), part...)
			n, end, _ := sc.FeedDrop(p)
			out = append(out, p[:n]...)
			carry = p[n:end]
		}
		if len(carry) != 0 || !bytes.Equal(out, want) {
			t.Fatalf("cut %d: out %q carry %q", cut, out, carry)
		}
	}
}
