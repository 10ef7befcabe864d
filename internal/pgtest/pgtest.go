package pgtest

import (
	"context"
	"os/exec"

	"github.com/pgbun/pgbun/internal/cluster"
	"github.com/pgbun/pgbun/internal/localca"
)

// Options configures Start; see cluster.Options.
type Options = cluster.Options

// PasswordEnc selects how CreateRole stores a password.
type PasswordEnc = cluster.PasswordEnc

// Password encodings, as in PostgreSQL's password_encryption.
const (
	SCRAM = cluster.SCRAM
	MD5   = cluster.MD5
)

// KeyAlg selects the kind of private key generated for a CA or a leaf.
type KeyAlg = localca.KeyAlg

// Key algorithms. The zero value is ECDSA on P-256.
const (
	ECDSAP256 = localca.ECDSAP256
	RSA2048   = localca.RSA2048
	Ed25519   = localca.Ed25519
)

// CA is a certificate authority held in memory; see localca.CA.
type CA = localca.CA

// KeyPair is a leaf certificate with its private key; see localca.KeyPair.
type KeyPair = localca.KeyPair

// NewCA generates a key of the given algorithm and a self-signed CA
// certificate with that common name.
func NewCA(commonName string, alg KeyAlg) (*CA, error) {
	return localca.NewCA(commonName, alg)
}

// Cluster is a running throwaway PostgreSQL cluster. It has every method of
// cluster.Cluster (Stop, Restart, Port, CAFile, Exec, CreateRole, ...) and
// SuperConn. Its methods are safe for concurrent use; Stop must be called to
// end the server and remove its files.
type Cluster struct {
	*cluster.Cluster
}

// Start creates a cluster in a new temporary directory and starts its server
// on a free port, as cluster.Start does.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Cluster{Cluster: c}, nil
}

// BinDir returns the directory holding PostgreSQL's server binaries: $PGBIN
// when set, else the newest /usr/lib/postgresql/*/bin that holds both initdb
// and postgres.
func BinDir() (string, error) { return cluster.BinDir() }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) { return cluster.FreePort() }

// AsPostgres makes cmd run as the `postgres` OS user when the current
// process runs as root; see cluster.AsPostgres.
func AsPostgres(cmd *exec.Cmd) error { return cluster.AsPostgres(cmd) }
