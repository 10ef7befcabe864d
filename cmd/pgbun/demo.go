package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/gateway"
	"github.com/pgbun/pgbun/internal/cluster"
	"github.com/pgbun/pgbun/internal/localca"
	"github.com/pgbun/pgbun/internal/logline"
)

// demo starts a throwaway PostgreSQL and pgbun in front of it, with TLS
// (a CA made for the occasion) and SCRAM: the userlist holds only the
// role's SCRAM secret, so pgbun logs in to PostgreSQL with the keys the
// client proves, and no plaintext password is stored anywhere. It prints
// how to connect and serves until interrupted.
func demo(args []string) int {
	port := 6432
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--port", "-p":
			if i+1 < len(args) {
				i++
				if n, err := strconv.Atoi(args[i]); err == nil {
					port = n
					continue
				}
			}
			fmt.Fprintln(os.Stderr, "usage: pgbun demo [--port N]")
			return 2
		default:
			fmt.Fprintln(os.Stderr, "usage: pgbun demo [--port N]")
			return 2
		}
	}
	if err := runDemo(port); err != nil {
		fmt.Fprintln(os.Stderr, "pgbun demo:", err)
		return 1
	}
	return 0
}

func runDemo(port int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(logline.New(os.Stderr, slog.LevelInfo))

	fmt.Fprintln(os.Stderr, "starting a throwaway PostgreSQL...")
	pg, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		return err
	}
	defer pg.Stop()

	password := randomHex(12)
	if err := pg.CreateRole(ctx, "demo", password, cluster.SCRAM); err != nil {
		return err
	}
	if err := pg.CreateDatabase(ctx, "demo", "demo"); err != nil {
		return err
	}
	if err := pg.Exec(ctx, "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC"); err != nil {
		return err
	}
	secret, err := pg.RoleSecret(ctx, "demo")
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "pgbun-demo-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ca, err := localca.NewCA("pgbun demo CA", localca.ECDSAP256)
	if err != nil {
		return err
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := ca.WriteCert(caFile); err != nil {
		return err
	}
	kp, err := ca.IssueServer([]string{"localhost", "127.0.0.1", "::1"}, localca.ECDSAP256, 30*24*time.Hour)
	if err != nil {
		return err
	}
	certFile, keyFile, err := kp.WriteFiles(dir, "pgbun")
	if err != nil {
		return err
	}
	userlist := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(userlist, []byte(fmt.Sprintf("%q %q\n", "demo", secret)), 0o600); err != nil {
		return err
	}
	if port == 6432 && !portFree(port) {
		if port, err = cluster.FreePort(); err != nil {
			return err
		}
	}
	ini := filepath.Join(dir, "pgbouncer.ini")
	body := fmt.Sprintf(`[databases]
demo = host=127.0.0.1 port=%d dbname=demo

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %s
pool_mode = session
default_pool_size = 10
client_tls_sslmode = require
client_tls_cert_file = %s
client_tls_key_file = %s
server_tls_sslmode = verify-full
server_tls_ca_file = %s
`, pg.Port(), port, userlist, certFile, keyFile, pg.CAFile())
	if err := os.WriteFile(ini, []byte(body), 0o600); err != nil {
		return err
	}
	cfg, err := config.Load(ini)
	if err != nil {
		return err
	}
	lns, err := gateway.Listen(&cfg.General)
	if err != nil {
		return err
	}
	gw, err := gateway.New(cfg, log)
	if err != nil {
		return err
	}
	for _, ln := range lns {
		go gw.Serve(ln)
	}
	u := url.URL{
		Scheme:   "postgresql",
		User:     url.UserPassword("demo", password),
		Host:     net.JoinHostPort("localhost", strconv.Itoa(port)),
		Path:     "/demo",
		RawQuery: "sslmode=verify-full&sslrootcert=" + url.QueryEscape(caFile) + "&channel_binding=require",
	}
	fmt.Printf(`
pgbun is serving PostgreSQL %s:%d through TLS and SCRAM-SHA-256-PLUS.
Configuration: %s (userlist holds only the SCRAM secret, no password)

Connect with:
  psql '%s'

Press Ctrl-C to stop.
`, pg.Host(), pg.Port(), ini, u.String())
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "\nstopping...")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	gw.Shutdown(sctx)
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
