package gateway

import (
	"fmt"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/certs"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/tlsconf"
)

// state is everything built from one configuration: the settings, the
// users, and the TLS material. It is immutable; a reload builds a new one
// and swaps the pointer, so a client sees one consistent state per step.
type state struct {
	cfg       *config.Config
	users     *authn.Userlist // nil when no auth_file
	certs     *certs.Store    // nil when client TLS is off
	clientTLS *tlsconf.Client
	serverTLS *tlsconf.Server
}

// buildState loads what cfg points at. notes are remarks for the log
// (skipped userlist lines, approximated TLS settings).
func buildState(cfg *config.Config, prev *state) (*state, []string, error) {
	g := &cfg.General
	st := &state{cfg: cfg}
	var notes []string
	if g.AuthFile != "" {
		users, warns, err := authn.LoadUserlist(g.AuthFile)
		if err != nil {
			return nil, nil, fmt.Errorf("auth_file: %w", err)
		}
		st.users = users
		notes = append(notes, warns...)
	}
	switch g.AuthType {
	case config.AuthHBA, config.AuthCert:
		return nil, nil, fmt.Errorf("auth_type %s is not supported by this version of pgbun", g.AuthType)
	case config.AuthSCRAM, config.AuthMD5, config.AuthPlain:
		if st.users == nil && g.AuthFile == "" {
			notes = append(notes, fmt.Sprintf("auth_type %s without auth_file: no user can log in", g.AuthType))
		}
	}
	if g.ClientTLS.SSLMode != config.SSLDisable && g.ClientTLS.SSLMode != "" {
		pair := certs.FilePair{CertFile: g.ClientTLS.CertFile, KeyFile: g.ClientTLS.KeyFile}
		if prev != nil && prev.certs != nil && samePair(prev, pair) {
			// Same files: re-read them, keeping the old pair if the new one is broken.
			if err := prev.certs.Reload(); err != nil {
				notes = append(notes, fmt.Sprintf("client TLS certificate not reloaded, keeping the previous one: %v", err))
			}
			st.certs = prev.certs
		} else {
			store, err := certs.NewStore(pair)
			if err != nil {
				return nil, nil, fmt.Errorf("client TLS: %w", err)
			}
			st.certs = store
		}
	}
	var getCert tlsconf.GetCertificateFunc
	if st.certs != nil {
		getCert = st.certs.GetCertificate
	}
	ct, err := tlsconf.ForClients(g.ClientTLS, getCert)
	if err != nil {
		return nil, nil, err
	}
	if ct.Note != "" {
		notes = append(notes, "client TLS: "+ct.Note)
	}
	st.clientTLS = ct
	if st.serverTLS, err = tlsconf.ForServers(g.ServerTLS); err != nil {
		return nil, nil, err
	}
	return st, notes, nil
}

func samePair(st *state, p certs.FilePair) bool {
	g := st.cfg.General.ClientTLS
	return g.CertFile == p.CertFile && g.KeyFile == p.KeyFile
}

// isConsoleDB reports whether name is the admin console's database.
func isConsoleDB(name string) bool {
	return name == "pgbouncer" || name == "pgbun"
}

// Validate loads the files cfg names (auth_file, certificates, CAs) the
// way New would, without starting anything. It returns remarks for the
// log and the first error.
func Validate(cfg *config.Config) ([]string, error) {
	_, notes, err := buildState(cfg, nil)
	return notes, err
}
