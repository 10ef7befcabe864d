package gateway

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/certs"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/policy"
	"github.com/pgbun/pgbun/tlsconf"
)

// state is everything built from one configuration: the settings, the
// users, the access rules and the TLS material. It is immutable; a reload
// builds a new one and swaps the pointer, so a client sees one consistent
// state per step.
type state struct {
	cfg   *config.Config
	users *authn.Userlist // nil when no auth_file
	// mockSCRAM: under auth_type md5 a user auth_file lacks gets a SCRAM
	// exchange, as most users there do (else md5, as most do).
	mockSCRAM bool
	hba       *policy.HBA      // nil unless auth_type = hba
	ident     *policy.IdentMap // nil when no auth_ident_file
	files     *certs.Store     // certificates from files; nil when none
	certs     *certs.Set       // what client handshakes are served from
	sni       sniRoutes
	clientTLS *tlsconf.Client
	serverTLS *tlsconf.Server
	// commitFiles puts certificates re-read from the running state's
	// files into service; Reload calls it once the state is committed.
	// nil when there is nothing to put in.
	commitFiles func()
}

// buildState loads what cfg points at. notes are remarks for the log
// (skipped userlist lines, approximated TLS settings). acme is the
// gateway's certificate manager, nil without ACME.
func buildState(cfg *config.Config, prev *state, acme *certs.ACME) (*state, []string, error) {
	g := &cfg.General
	st := &state{cfg: cfg}
	var notes []string
	if g.AuthFile != "" {
		users, warns, err := authn.LoadUserlist(g.AuthFile)
		if err != nil {
			return nil, nil, fmt.Errorf("auth_file: %w", err)
		}
		st.users = users
		st.mockSCRAM = users.MostlySCRAM()
		notes = append(notes, warns...)
	}
	if g.AuthType == config.AuthHBA {
		hba, err := policy.LoadHBA(g.AuthHBAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("auth_hba_file: %w", err)
		}
		st.hba = hba
		notes = append(notes, hba.Notes...)
	}
	if g.AuthIdentFile != "" {
		ident, err := policy.LoadIdent(g.AuthIdentFile)
		if err != nil {
			return nil, nil, fmt.Errorf("auth_ident_file: %w", err)
		}
		st.ident = ident
	}
	switch g.AuthType {
	case config.AuthSCRAM, config.AuthMD5, config.AuthPlain:
		if st.users == nil && g.AuthUser == "" && !anyAuthUser(cfg) {
			notes = append(notes, fmt.Sprintf("auth_type %s without auth_file or auth_user: no user can log in", g.AuthType))
		}
	}
	if g.ClientTLS.CertFile != "" && g.ClientTLS.KeyFile != "" {
		note, err := st.loadClientCerts(prev, certPairs(&g.ClientTLS))
		if err != nil {
			return nil, nil, err
		}
		if note != "" {
			notes = append(notes, note)
		}
	}
	var getCert tlsconf.GetCertificateFunc
	if st.files != nil || acme != nil {
		st.certs = certs.NewSet(st.files, acme)
		getCert = recordServed(st.certs.GetCertificate)
	}
	ct, err := tlsconf.ForClients(g.ClientTLS, getCert)
	if err != nil {
		return nil, nil, err
	}
	if ct.Config != nil && st.certs != nil {
		// ACME's TLS-ALPN challenge arrives on the same listener.
		ct.Config.NextProtos = st.certs.NextProtos()
	}
	if ct.Note != "" {
		notes = append(notes, "client TLS: "+ct.Note)
	}
	st.clientTLS = ct
	if st.serverTLS, err = tlsconf.ForServers(g.ServerTLS); err != nil {
		return nil, nil, err
	}
	st.sni = buildSNIRoutes(cfg)
	return st, notes, nil
}

func anyAuthUser(cfg *config.Config) bool {
	for _, db := range cfg.Databases {
		if db.AuthUser != "" {
			return true
		}
	}
	return false
}

// certPairs lists the certificate files of client TLS: the default pair
// first (served when no other covers the client's server name), then
// client_tls_sni_certs.
func certPairs(t *config.ClientTLS) []certs.FilePair {
	out := []certs.FilePair{{CertFile: t.CertFile, KeyFile: t.KeyFile}}
	for _, p := range t.ExtraCerts {
		if f := strings.Fields(p); len(f) == 2 {
			out = append(out, certs.FilePair{CertFile: f[0], KeyFile: f[1]})
		}
	}
	return out
}

// isConsoleDB reports whether name is the admin console's database.
func isConsoleDB(name string) bool {
	return name == "pgbouncer" || name == "pgbun"
}

// Validate loads the files cfg names (auth_file, hba and ident files,
// certificates, CAs) the way New would, without starting anything. It
// returns remarks for the log and the first error.
func Validate(cfg *config.Config) ([]string, error) {
	_, notes, err := buildState(cfg, nil, nil)
	return notes, err
}

// sniRoutes maps TLS server names to [databases] entries: exact names
// first, then "*.suffix" patterns, longest suffix first.
type sniRoutes struct {
	exact  map[string]*config.Database
	suffix []sniSuffix
}

type sniSuffix struct {
	suffix string // ".example.com"
	db     *config.Database
}

func buildSNIRoutes(cfg *config.Config) sniRoutes {
	r := sniRoutes{exact: make(map[string]*config.Database)}
	names := make([]string, 0, len(cfg.Databases))
	for name := range cfg.Databases {
		names = append(names, name)
	}
	sort.Strings(names) // a stable choice when two entries claim one name
	for _, name := range names {
		db := cfg.Databases[name]
		sni := strings.ToLower(strings.TrimSuffix(db.SNI, "."))
		switch {
		case sni == "":
		case strings.HasPrefix(sni, "*."):
			r.suffix = append(r.suffix, sniSuffix{suffix: sni[1:], db: db})
		default:
			if _, dup := r.exact[sni]; !dup {
				r.exact[sni] = db
			}
		}
	}
	sort.SliceStable(r.suffix, func(i, j int) bool { return len(r.suffix[i].suffix) > len(r.suffix[j].suffix) })
	return r
}

// match returns the entry routed for server name sni, if any.
func (r *sniRoutes) match(sni string) *config.Database {
	if sni == "" {
		return nil
	}
	if db, ok := r.exact[sni]; ok {
		return db
	}
	for _, s := range r.suffix {
		// "*.example.com" covers one or more labels before the suffix.
		if strings.HasSuffix(sni, s.suffix) && len(sni) > len(s.suffix) {
			return s.db
		}
	}
	return nil
}

// enabled reports whether any entry routes by SNI.
func (r *sniRoutes) enabled() bool { return len(r.exact) > 0 || len(r.suffix) > 0 }

// loadClientCerts gives st the certificate files it serves to clients.
// The running state's files, when they are the same files, are re-read
// (and a broken new pair keeps the old one); files that changed are
// loaded anew, and when they do not load together (a key set before its
// certificate, one console SET at a time) the running certificate stays
// until they do. The note, if any, is for the log.
func (st *state) loadClientCerts(prev *state, pairs []certs.FilePair) (note string, err error) {
	if prev != nil && prev.files != nil && slices.Equal(prev.files.Pairs(), pairs) {
		// The store is shared with the running state, so the new pair
		// goes into service only when this state does (commitFiles).
		commit, err := prev.files.Stage()
		if err != nil {
			note = fmt.Sprintf("client TLS certificate not reloaded, keeping the previous one: %v", err)
		}
		st.files, st.commitFiles = prev.files, commit
		return note, nil
	}
	store, err := certs.NewStore(pairs...)
	switch {
	case err == nil:
		st.files = store
	case prev != nil && prev.files != nil:
		st.files = prev.files
		note = fmt.Sprintf("client TLS certificate not changed, keeping the previous one: %v", err)
	default:
		return "", fmt.Errorf("client TLS: %w", err)
	}
	return note, nil
}
