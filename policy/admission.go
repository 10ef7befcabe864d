package policy

import (
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// AdmissionConfig bounds the work pgbun does for connections before they
// authenticate. Zero means unlimited for the limits; negative values are
// treated as zero.
type AdmissionConfig struct {
	MaxConnPerAddr     int     // max_client_conn_per_addr: open connections per source
	RatePerAddr        float64 // client_connect_rate_per_addr: new connections per second per source
	Burst              int     // token bucket size for RatePerAddr; default max(1, 2*RatePerAddr)
	MaxUnauthenticated int     // connections accepted but not yet authenticated, over all sources
	MaxEntries         int     // idle sources whose rate state is kept; default 100000

	Now func() time.Time // clock for the rate limiter; nil means time.Now
}

func (c AdmissionConfig) withDefaults() AdmissionConfig {
	c.MaxConnPerAddr = max(c.MaxConnPerAddr, 0)
	c.MaxUnauthenticated = max(c.MaxUnauthenticated, 0)
	if !(c.RatePerAddr > 0) || math.IsInf(c.RatePerAddr, 0) { // also catches NaN
		c.RatePerAddr = 0
	}
	if c.Burst <= 0 {
		c.Burst = max(1, int(min(2*c.RatePerAddr, math.MaxInt32)))
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = defaultMaxEntries
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// The reasons Admit refuses a connection.
const (
	ReasonRate            = "rate"            // RatePerAddr exceeded
	ReasonPerAddress      = "per-address"     // MaxConnPerAddr reached
	ReasonUnauthenticated = "unauthenticated" // MaxUnauthenticated reached
)

// LimitError is Admit's refusal.
type LimitError struct {
	Reason string  // ReasonRate, ReasonPerAddress or ReasonUnauthenticated
	Limit  float64 // the limit that was reached
}

func (e *LimitError) Error() string {
	l := strconv.FormatFloat(e.Limit, 'g', -1, 64)
	switch e.Reason {
	case ReasonRate:
		return "too many new connections from this address (limit " + l + "/s)"
	case ReasonPerAddress:
		return "too many connections from this address (limit " + l + ")"
	case ReasonUnauthenticated:
		return "too many connections waiting to authenticate (limit " + l + ")"
	}
	return "connection limit reached: " + e.Reason
}

// Admission enforces AdmissionConfig when connections are accepted. It is
// safe for concurrent use. Sources are keyed like Throttle's: IPv4
// addresses, IPv6 /64s; Unix-socket connections (the zero Addr) are exempt
// from the per-source limits but count as unauthenticated.
//
// Sources with open connections are always tracked, so a flood of other
// addresses cannot evict a source and reset its connection count; their
// number is bounded by the open connections themselves. Sources without
// open connections keep only rate-limiter state, in an LRU of MaxEntries;
// a source whose bucket has refilled is forgotten at once.
type Admission struct {
	mu     sync.Mutex
	cfg    AdmissionConfig
	gen    int // incremented by SetConfig; sources catch up lazily
	active map[netip.Prefix]*source
	idle   *simplelru.LRU[netip.Prefix, *source]
	unauth int
}

type source struct {
	conns int
	lim   *rate.Limiter // nil when RatePerAddr is unlimited
	gen   int
}

// NewAdmission returns an Admission with cfg's limits.
func NewAdmission(cfg AdmissionConfig) *Admission {
	cfg = cfg.withDefaults()
	return &Admission{
		cfg:    cfg,
		active: make(map[netip.Prefix]*source),
		idle:   newLRU[netip.Prefix, *source](cfg.MaxEntries),
	}
}

// SetConfig applies new limits to existing and future connections; open
// connections are never closed by it, and sources keep their rate state.
func (a *Admission) SetConfig(cfg AdmissionConfig) {
	cfg = cfg.withDefaults()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg = cfg
	a.gen++
	a.idle.Resize(cfg.MaxEntries)
}

// Ticket is one admitted connection. Its owner calls Authenticated when
// the client has logged in and Close when the connection ends; both are
// idempotent, and Close also suffices for a connection that never logged
// in. A nil Ticket does nothing.
type Ticket struct {
	a      *Admission
	key    netip.Prefix
	src    *source // nil for the Unix socket and for a nil Admission
	authed bool    // guarded by a.mu
	closed bool    // guarded by a.mu
}

// Admit is called when a connection is accepted from addr (the zero Addr
// for the Unix socket). It returns the connection's Ticket or a
// *LimitError. A rate refusal consumes nothing, so a client that backs off
// gets in. A nil Admission admits everything.
func (a *Admission) Admit(addr netip.Addr) (*Ticket, error) {
	if a == nil {
		return &Ticket{}, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg := &a.cfg
	if cfg.MaxUnauthenticated > 0 && a.unauth >= cfg.MaxUnauthenticated {
		return nil, &LimitError{Reason: ReasonUnauthenticated, Limit: float64(cfg.MaxUnauthenticated)}
	}
	t := &Ticket{a: a}
	if key, ok := sourceKey(addr); ok {
		s := a.active[key]
		if s == nil {
			s, _ = a.idle.Get(key)
		}
		if s != nil && cfg.MaxConnPerAddr > 0 && s.conns >= cfg.MaxConnPerAddr {
			return nil, &LimitError{Reason: ReasonPerAddress, Limit: float64(cfg.MaxConnPerAddr)}
		}
		if s == nil {
			s = &source{gen: -1}
		}
		at := cfg.Now()
		a.refresh(s, at)
		if s.lim != nil && !s.lim.AllowN(at, 1) {
			if s.conns == 0 {
				a.idle.Add(key, s) // keep the empty bucket
			}
			return nil, &LimitError{Reason: ReasonRate, Limit: cfg.RatePerAddr}
		}
		if s.conns == 0 {
			a.idle.Remove(key)
			a.active[key] = s
		}
		s.conns++
		t.key, t.src = key, s
	}
	a.unauth++
	return t, nil
}

// refresh brings a source's rate limiter in line with the configuration.
func (a *Admission) refresh(s *source, now time.Time) {
	if s.gen == a.gen {
		return
	}
	s.gen = a.gen
	switch {
	case a.cfg.RatePerAddr == 0:
		s.lim = nil
	case s.lim == nil:
		s.lim = rate.NewLimiter(rate.Limit(a.cfg.RatePerAddr), a.cfg.Burst)
	default:
		s.lim.SetLimitAt(now, rate.Limit(a.cfg.RatePerAddr))
		s.lim.SetBurstAt(now, a.cfg.Burst)
	}
}

// Authenticated records that the connection finished logging in: it no
// longer counts against MaxUnauthenticated.
func (t *Ticket) Authenticated() {
	if t == nil || t.a == nil {
		return
	}
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.authed || t.closed {
		return
	}
	t.authed = true
	a.unauth--
}

// Close records that the connection ended.
func (t *Ticket) Close() {
	if t == nil || t.a == nil {
		return
	}
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	if !t.authed {
		a.unauth--
	}
	s := t.src
	if s == nil {
		return
	}
	s.conns--
	if s.conns > 0 {
		return
	}
	delete(a.active, t.key)
	// Keep the source only while its bucket is still refilling: a full
	// bucket is what a new source starts with anyway.
	now := a.cfg.Now()
	a.refresh(s, now)
	if s.lim != nil && s.lim.TokensAt(now) < float64(s.lim.Burst()) {
		a.idle.Add(t.key, s)
	}
}
