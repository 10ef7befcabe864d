package session

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/stats"
)

// The transaction-pooling rewriter (translate and the prepared statement
// code under it) reads what clients send after login. FuzzTranslate
// drives it with arbitrary client bytes against a model server and checks:
//
//   - it never panics;
//   - what it queues for the server is whole messages, the client's own
//     last: a client message gives one message of the same type, rewritten
//     or not, preceded only by pgbun's own Close and Parse messages; a
//     rewritten Parse keeps its query and parameter types, a rewritten Bind
//     everything after the statement name;
//   - every message whose answer pgbun follows is recorded, in order:
//     one ParseComplete per Parse, one CloseComplete per Close, one
//     ReadyForQuery per Sync, Query and FunctionCall;
//   - the statement registry counts exactly the client's names, and a
//     server's statement cache grows past max_prepared_statements only
//     while every statement in it is in use by the present batch (it
//     does not shrink back afterwards: each later addition evicts one);
//
// and, when the server has answered everything (the model answers in
// order, after each client message or in batches, as the fuzzer chooses):
//
//   - nothing is owed any more, and every statement pgbun holds as
//     prepared exists on the server;
//   - the client's names are exactly those a server would have if the
//     client talked to it directly;
//   - the client saw the same answers, message type for message type, as
//     it would have from that server directly.
//
// The last group does not hold, by design or as known limits, for
// streams where the client
//
//   - names statements in pgbun's namespace (pgbun_...);
//   - sends a Query or FunctionCall while the server skips to the next
//     Sync after an error;
//   - sends more messages behind a DISCARD ALL or DEALLOCATE ALL before
//     its answer came back;
//   - names a statement, or parses a query, whose earlier Parse failed or
//     was skipped and is not answered yet: pgbun decides what a name
//     means from what it has sent, not from what the server has answered;
//   - sends a Describe or Close of one of its statements with bytes after
//     the name: pgbun sends such a Describe without them, and forgets the
//     name of such a Close, where PostgreSQL refuses both;
//   - closes one of its statements while the server skips to the next
//     Sync: pgbun forgets the name, the server keeps the statement.
//
// Such streams are checked for the first group only. The client's names
// are compared only with max_prepared_statements set.

// backend is one server a session may be linked to, played by a model.
type backend struct {
	srv   *pool.Server
	ss    *serverState
	model *modelServer
	obs   *txnObserver
	sc    *wire.Scanner
}

// txHarness runs one txnSession against model servers, with the down
// side's observer settling the answers as a linked server's would. With
// more than one server, the session moves to the next one whenever a
// transaction ends with nothing owed, as it would when it gives its server
// back and gets another for its next transaction.
type txHarness struct {
	t       *testing.T
	s       *txnSession
	servers []*backend
	cur     int          // the linked server
	direct  *modelServer // what the client would talk to without pgbun
	seen    []byte       // answer types the client got through pgbun
	want    []byte       // answer types it would have got directly
	// unnamed is the server the client's unnamed statement was parsed
	// on, -1 when none.
	unnamed int
	// outside is set when the stream leaves what the answer checks
	// cover (see the comment at the top), with why.
	outside string
	// discard is set while a DISCARD ALL or DEALLOCATE ALL waits unsent.
	discard bool
	// failed holds the queries of named Parses that failed or were
	// skipped.
	failed map[string]bool
}

func newTxHarness(t *testing.T, maxPrepared, servers int) *txHarness {
	s := &txnSession{
		e:           &Engine{log: slog.New(slog.DiscardHandler)},
		c:           &Client{},
		cfg:         &Config{Stats: new(stats.Pool)},
		maxPrepared: maxPrepared,
		params:      make(map[string]string),
	}
	s.clock = newClock(s.e, s.c, s.cfg)
	h := &txHarness{t: t, s: s, direct: newModelServer(), unnamed: -1, failed: make(map[string]bool)}
	for i := range servers {
		b := &backend{srv: &pool.Server{}, model: newModelServer()}
		b.ss = &serverState{applied: make(map[string]string), gen: uint32(i + 1)}
		b.ss.prepared = newStmtCache(maxPrepared, b.ss.gen)
		b.obs = &txnObserver{s: s, srv: b.srv}
		b.sc = wire.NewScanner(b.obs)
		h.servers = append(h.servers, b)
	}
	s.srv, s.ss, s.w = h.servers[0].srv, h.servers[0].ss, h.servers[0].srv
	return h
}

// at returns the linked server.
func (h *txHarness) at() *backend { return h.servers[h.cur] }

// send passes one client message through translate and checks what it
// queued.
func (h *txHarness) send(typ byte, body []byte) {
	t, s := h.t, h.s
	if h.direct.skip && (typ == 'Q' || typ == 'F') {
		h.leave("a Query or FunctionCall while the server skips to Sync")
	}
	if h.discard {
		h.leave("messages behind an unanswered DISCARD ALL")
	}
	for _, name := range clientNames(typ, body) {
		if strings.HasPrefix(name, "pgbun_") {
			h.leave("a statement name in pgbun's namespace")
		}
		_, mine := h.s.stmts[name]
		_, theirs := h.direct.stmts[name]
		if mine != theirs && typ != 'C' && name != "" && h.s.maxPrepared > 0 {
			h.leave("a statement named before its Parse was answered")
		}
	}
	switch typ {
	case 'Q':
		if q, _, _ := wire.CString(body); q == "DISCARD ALL" || q == "DEALLOCATE ALL" {
			h.discard = true
		}
		h.unnamed = -1
	case 'B':
		if _, rest, ok := wire.CString(body); ok {
			if name, _, ok := wire.CString(rest); ok && name == "" && h.unnamed >= 0 && h.unnamed != h.cur {
				h.leave("the unnamed statement used in a later transaction")
			}
		}
	case 'D', 'C':
		if len(body) > 1 && body[0] == 'S' {
			name, rest, _ := wire.CString(body[1:])
			if name == "" && h.unnamed >= 0 && h.unnamed != h.cur {
				h.leave("the unnamed statement used in a later transaction")
			}
			if _, ok := h.s.stmts[name]; ok && len(rest) > 0 && h.s.maxPrepared > 0 {
				h.leave("a Describe or Close with bytes after the name")
			}
			if _, ok := h.s.stmts[name]; ok && typ == 'C' && h.direct.skip {
				h.leave("a Close the server skips")
			}
		}
	case 'P':
		if name, _, ok := wire.CString(body); ok && name == "" {
			h.unnamed = h.cur
		}
		if name, query, types, ok := parseParse(body); ok && name != "" && h.s.maxPrepared > 0 {
			_, theirs := h.direct.stmts[name]
			if e := h.s.e.stmts.m[query+"\x00"+string(types)]; e != nil && h.failed[query] {
				if el := h.s.ss.prepared.m[e.id]; el != nil && !el.Value.(*cached).confirmed {
					h.leave("a Parse of a query whose earlier Parse is not answered yet")
				}
			}
			defer func() {
				if _, ok := h.direct.stmts[name]; !ok && !theirs {
					h.failed[query] = true
				}
			}()
		}
	}
	h.want = appendTypes(h.want, h.direct.serve(nil, typ, body))

	s.mu.Lock()
	had := false
	if names := clientNames(typ, body); len(names) == 1 {
		_, had = s.stmts[names[0]]
	}
	before := len(s.out)
	owed := h.owed()
	cacheLen := s.ss.prepared.len()
	s.translate(typ, body)
	added := s.out[before:]
	msgs, err := frames(added)
	if err != nil {
		t.Fatalf("after %q: queued bytes are not whole messages: %v", typ, err)
	}
	if len(msgs) == 0 {
		t.Fatalf("message %q queued nothing", typ)
	}
	last := msgs[len(msgs)-1]
	if last[0] != typ {
		t.Fatalf("message %q queued %q last", typ, last[0])
	}
	var n [256]int
	for _, m := range msgs[:len(msgs)-1] {
		if m[0] != 'C' && m[0] != 'P' {
			t.Fatalf("message %q was preceded by %q", typ, m[0])
		}
		n[m[0]]++
	}
	n[typ]++
	checkRewrite(t, typ, body, last[5:], had)
	now := h.owed()
	for _, k := range []struct {
		answer byte
		msgs   int
	}{{'1', n['P']}, {'3', n['C']}, {'Z', n['S'] + n['Q'] + n['F']}} {
		if got := now[k.answer] - owed[k.answer]; got != k.msgs {
			t.Fatalf("message %q: %d answers %q recorded for %d messages", typ, got, k.answer, k.msgs)
		}
	}
	h.checkNames()
	if c := s.ss.prepared; c.len() > max(s.maxPrepared, cacheLen) {
		for el := c.lru.Front(); el != nil; el = el.Next() {
			if !el.Value.(*cached).pin {
				t.Fatalf("message %q: statement cache grew from %d to %d (max %d) past a statement not in use",
					typ, cacheLen, c.len(), s.maxPrepared)
			}
		}
	}
	s.mu.Unlock()
}

// leave marks the stream as outside the answer checks.
func (h *txHarness) leave(why string) {
	if h.outside == "" {
		h.outside = why
	}
}

// owed counts the answers pgbun expects, by type. Called with s.mu held.
func (h *txHarness) owed() map[byte]int {
	m := make(map[byte]int)
	for _, e := range h.s.q.q[h.s.q.h:] {
		m[e.kind]++
	}
	return m
}

// checkNames checks the registry and the statement cache. Called with
// s.mu held.
func (h *txHarness) checkNames() {
	t, s := h.t, h.s
	refs := make(map[*stmtEntry]int)
	for name, e := range s.stmts {
		if name == "" {
			t.Fatal("the unnamed statement is tracked")
		}
		refs[e]++
	}
	r := &s.e.stmts
	r.mu.Lock()
	if len(r.m) != len(refs) {
		t.Fatalf("registry holds %d statements, client names %d", len(r.m), len(refs))
	}
	for key, e := range r.m {
		if e.key != key || refs[e] != e.refs {
			t.Fatalf("registry entry %q: %d refs, %d client names", key, e.refs, refs[e])
		}
	}
	r.mu.Unlock()
	c := s.ss.prepared
	if len(c.m) != c.len() {
		t.Fatalf("statement cache index %d, list %d", len(c.m), c.len())
	}
}

// flush hands the queued messages to the model server and its answers to
// the observer, as the down goroutine would.
func (h *txHarness) flush() {
	s := h.s
	s.mu.Lock()
	out := append([]byte(nil), s.out...)
	s.out = s.out[:0]
	s.mu.Unlock()
	h.discard = false
	b := h.at()
	ans := b.model.serveAll(out)
	if len(ans) == 0 {
		return
	}
	fwd, end, stopped := b.sc.FeedDrop(ans)
	if stopped || fwd != end || !b.sc.AtBoundary() {
		h.t.Fatalf("answers not passed whole: fwd %d end %d of %d, stopped %v", fwd, end, len(ans), stopped)
	}
	h.seen = appendTypes(h.seen, ans[:fwd])
	if !b.obs.ready || len(h.servers) == 1 || b.model.closed {
		return
	}
	b.obs.ready = false
	s.mu.Lock()
	if s.pending == 0 && !s.unsynced {
		s.unlinkLocked()
		h.cur = (h.cur + 1) % len(h.servers)
		next := h.at()
		s.srv, s.ss, s.w = next.srv, next.ss, next.srv
	}
	s.mu.Unlock()
}

// settled checks the state once the server has answered everything.
func (h *txHarness) settled() {
	t, s := h.t, h.s
	if h.outside != "" {
		return
	}
	if !bytes.Equal(h.seen, h.want) {
		t.Fatalf("client saw %q through pgbun, %q directly", h.seen, h.want)
	}
	if h.at().model.closed || h.at().model.skip {
		return // gone, or owing answers until the next Sync
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.stmts {
		if s.maxPrepared == 0 {
			break
		}
		if _, ok := h.direct.stmts[name]; !ok {
			t.Fatalf("pgbun holds client statement %q, which the server would not have", name)
		}
	}
	for name := range h.direct.stmts {
		if _, ok := s.stmts[name]; !ok && name != "" && s.maxPrepared > 0 {
			t.Fatalf("client statement %q lost", name)
		}
	}
	if s.q.len() != 0 || s.pending != 0 {
		t.Fatalf("all answered, yet %d answers owed, %d pending", s.q.len(), s.pending)
	}
	for _, b := range h.servers {
		for _, el := range b.ss.prepared.m {
			x := el.Value.(*cached)
			if !x.confirmed {
				t.Fatalf("statement %s unconfirmed with nothing owed", x.name)
			}
			if q, ok := b.model.stmts[x.name]; !ok || q != x.e.query {
				t.Fatalf("statement %s (%q) held as prepared, server has %q (%v)", x.name, x.e.query, q, ok)
			}
		}
	}
}

// clientNames returns the statement names a client message carries.
func clientNames(typ byte, body []byte) []string {
	switch typ {
	case 'P':
		name, _, _ := wire.CString(body)
		return []string{name}
	case 'B':
		_, rest, _ := wire.CString(body)
		name, _, _ := wire.CString(rest)
		return []string{name}
	case 'D', 'C':
		if len(body) > 1 && body[0] == 'S' {
			name, _, _ := wire.CString(body[1:])
			return []string{name}
		}
	}
	return nil
}

// checkRewrite checks the message queued for a client message: the same
// body, or the same body but for the statement name, which is then one of
// pgbun's. A Parse may also become an empty Parse: of the client's own
// name when the client has that name already (the server's answer is then
// the error PostgreSQL gives), or of nopStatement when the server has the
// statement already.
func checkRewrite(t *testing.T, typ byte, in, out []byte, had bool) {
	if bytes.Equal(in, out) {
		return
	}
	var nameIn, nameOut string // the statement names
	var keepIn, keepOut []byte
	switch typ {
	case 'P':
		nameIn, keepIn, _ = wire.CString(in)
		nameOut, keepOut, _ = wire.CString(out)
		if bytes.Equal(keepOut, []byte{0, 0, 0}) && (had && nameOut == nameIn || nameOut == nopStatement) {
			return
		}
	case 'B':
		portalIn, restIn, _ := wire.CString(in)
		portalOut, restOut, _ := wire.CString(out)
		if portalIn != portalOut {
			t.Fatalf("Bind portal %q became %q", portalIn, portalOut)
		}
		nameIn, keepIn, _ = wire.CString(restIn)
		nameOut, keepOut, _ = wire.CString(restOut)
	case 'D':
		if len(in) == 0 || len(out) == 0 || in[0] != out[0] {
			t.Fatalf("Describe %q became %q", in, out)
		}
		nameIn, _, _ = wire.CString(in[1:])
		nameOut, keepOut, _ = wire.CString(out[1:])
		keepIn = keepOut[:0] // a rewritten Describe is only its name
	default:
		t.Fatalf("message %q rewritten: %q became %q", typ, in, out)
	}
	renamed := strings.HasPrefix(nameOut, "pgbun_") && nameOut != nopStatement
	if typ == 'P' {
		had = !had // a Parse is renamed when the client's name is new
	}
	if !had || !renamed || !bytes.Equal(keepIn, keepOut) {
		t.Fatalf("message %q: %q became %q", typ, in, out)
	}
}

// appendTypes appends the type of each whole message in b.
func appendTypes(dst, b []byte) []byte {
	for len(b) > 0 {
		typ, _, rest := splitMessage(b)
		dst = append(dst, typ)
		b = rest
	}
	return dst
}

// runTranslate feeds data to a session as its client's messages, and a
// Sync after them. conf picks max_prepared_statements (conf%4) and how
// many servers take turns (1 to 3; one without max_prepared_statements,
// which named statements then need). flush says, bit by bit (message i
// uses bit i%64), after which messages the server gets what is queued and
// answers at once; it always does at the end.
func runTranslate(t *testing.T, data []byte, conf uint8, flush uint64) {
	maxPrepared, servers := int(conf%4), 1+int(conf/4%3)
	if maxPrepared == 0 {
		servers = 1
	}
	h := newTxHarness(t, maxPrepared, servers)
	br := bufio.NewReader(bytes.NewReader(data))
	var buf []byte
	for i := 0; ; i++ {
		typ, body, b, err := wire.ReadMessage(br, buf, 1<<16)
		buf = b
		if err != nil || typ == 'X' {
			break
		}
		if h.at().model.closed {
			break
		}
		h.send(typ, body)
		if flush&(1<<(i%64)) != 0 {
			h.flush()
		}
		if h.direct.closed {
			break
		}
	}
	if !h.direct.closed {
		h.send('S', nil)
	}
	h.flush()
	h.settled()
}

// Client message builders for the seeds.

func fzParse(name, query string, oids ...uint32) []byte {
	body := wire.AppendCString(wire.AppendCString(nil, name), query)
	body = wire.AppendUint16(body, uint16(len(oids)))
	for _, o := range oids {
		body = wire.AppendUint32(body, o)
	}
	return wire.AppendMessage(nil, 'P', body)
}

func fzBind(portal, stmt string) []byte {
	body := wire.AppendCString(wire.AppendCString(nil, portal), stmt)
	body = append(body, 0, 0, 0, 0, 0, 0) // no formats, no parameters, no result formats
	return wire.AppendMessage(nil, 'B', body)
}

func fzDescribe(kind byte, name string) []byte {
	return wire.AppendMessage(nil, 'D', wire.AppendCString([]byte{kind}, name))
}

func fzClose(kind byte, name string) []byte {
	return wire.AppendMessage(nil, 'C', wire.AppendCString([]byte{kind}, name))
}

func fzExecute(portal string) []byte {
	return wire.AppendMessage(nil, 'E', wire.AppendInt32(wire.AppendCString(nil, portal), 0))
}

func fzJoin(msgs ...[]byte) []byte { return bytes.Join(msgs, nil) }

// translateSeeds are client streams of the kinds drivers send.
func translateSeeds() [][]byte {
	sync := wire.AppendSync(nil)
	return [][]byte{
		fzJoin(fzParse("s1", "select $1", 23), sync, fzBind("", "s1"), fzExecute(""), sync,
			fzBind("", "s1"), fzDescribe('P', ""), fzExecute(""), sync, fzClose('S', "s1"), sync),
		fzJoin(fzParse("a", "select 1"), fzParse("b", "select 1"), fzParse("c", "select 2"),
			fzParse("d", "select 3"), fzDescribe('S', "a"), sync, fzBind("p", "d"), fzBind("", "a"), sync),
		fzJoin(fzParse("a", "q"), sync, fzParse("a", "q"), sync, fzBind("", "a"), fzExecute(""), sync,
			fzClose('S', "a"), fzParse("a", "r"), sync),
		fzJoin(fzParse("", "select 1"), fzBind("", ""), fzExecute(""), sync, wire.AppendQuery(nil, "select 1")),
		fzJoin(fzParse("a", "!bad"), fzBind("", "a"), sync, fzBind("", "a"), sync, fzParse("a", "good"), sync),
		fzJoin(fzParse("a", "x"), sync, wire.AppendQuery(nil, "DISCARD ALL"), fzBind("", "a"), sync),
		fzJoin(fzParse("a", "x"), fzBind("", "nope"), fzParse("b", "y"), sync, fzDescribe('S', "b"), sync),
		fzJoin(fzParse("a", "x"), []byte{'P', 0, 0, 0, 6, 'b', 0}, sync, []byte{'B', 0, 0, 0, 4}, sync),
		fzJoin(wire.AppendMessage(nil, 'H', nil), wire.AppendMessage(nil, 'd', []byte("x")),
			wire.AppendMessage(nil, 'F', []byte{0, 0, 0, 1}), fzParse("a", "x"), sync),
	}
}

func TestTranslateSeeds(t *testing.T) {
	for i, seed := range translateSeeds() {
		for conf := range uint8(12) {
			for _, flush := range []uint64{0, ^uint64(0), 0x5555555555555555} {
				t.Run(fmt.Sprintf("%d/%d/%x", i, conf, flush), func(t *testing.T) {
					runTranslate(t, seed, conf, flush)
				})
			}
		}
	}
}

func FuzzTranslate(f *testing.F) {
	for _, seed := range translateSeeds() {
		f.Add(seed, uint8(2), ^uint64(0))
		f.Add(seed, uint8(1), uint64(0))
		f.Add(seed, uint8(10), uint64(0x5555555555555555))
	}
	f.Fuzz(func(t *testing.T, data []byte, conf uint8, flush uint64) {
		runTranslate(t, data, conf, flush)
	})
}
