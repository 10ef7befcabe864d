package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/gateway"
)

// run starts pgbun in the foreground (or as the daemon child) and serves
// until a signal stops it.
func run(o options) int {
	cfg, err := loadConfig(o.config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if o.daemon && os.Getenv(daemonEnv) == "" {
		return daemonize()
	}
	ready := daemonReadyPipe()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "pgbun:", err)
		ready.report(err)
		return 1
	}
	var lf *logFile
	if cfg.General.Logfile != "" {
		if lf, err = openLogFile(cfg.General.Logfile); err != nil {
			return fail(err)
		}
	}
	log, _ := newLogger(o.quiet || ready != nil, o.verbose+cfg.General.Verbose, lf)
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w.String())
	}
	if cfg.General.Pidfile != "" {
		if err := writePidfile(cfg.General.Pidfile); err != nil {
			return fail(err)
		}
		defer os.Remove(cfg.General.Pidfile)
	}
	lns, err := gateway.Listen(&cfg.General)
	if err != nil {
		return fail(err)
	}
	runAs := o.user
	if runAs == "" {
		runAs = cfg.General.User
	}
	if runAs != "" {
		if err := dropPrivileges(runAs); err != nil {
			return fail(err)
		}
	}
	gw, err := gateway.New(cfg, log)
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return fail(err)
	}
	for _, ln := range lns {
		log.Info("listening", "addr", ln.Addr().String())
		go func(ln net.Listener) {
			if err := gw.Serve(ln); err != nil {
				log.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
			}
		}(ln)
	}
	ready.report(nil)
	log.Info("pgbun started", "version", version, "config", firstOr(cfg.Files, "built-in defaults"))
	serveSignals(gw, log, lf, o.config)
	log.Info("pgbun stopped")
	return 0
}

// serveSignals handles signals until pgbun must stop: SIGHUP reloads the
// configuration and reopens the logfile; SIGTERM and SIGINT stop accepting
// and wait for clients to leave (a second one stops at once); SIGQUIT
// stops at once.
func serveSignals(gw *gateway.Gateway, log *slog.Logger, lf *logFile, path string) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	var done chan struct{}
	ctx, now := context.WithCancel(context.Background())
	defer now()
	for {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		switch sig {
		case syscall.SIGHUP:
			if lf != nil {
				if err := lf.Reopen(); err != nil {
					log.Error("reopen logfile", "err", err)
				}
			}
			if path == "" {
				log.Info("reload: running on built-in defaults, nothing to reload")
				continue
			}
			cfg, err := config.Load(path)
			if err == nil {
				err = gw.Reload(cfg)
			}
			if err != nil {
				log.Error("reload failed, keeping the running configuration", "err", err)
				continue
			}
			for _, w := range cfg.Warnings {
				log.Warn("configuration", "warning", w.String())
			}
			log.Info("configuration reloaded", "file", path)
		case syscall.SIGQUIT:
			log.Info("immediate shutdown")
			now()
			gw.Close()
			return
		default:
			if done != nil {
				log.Info("second stop signal: closing all connections now")
				now()
				<-done
				return
			}
			log.Info("shutting down: no new connections, waiting for clients to finish", "signal", sig.String())
			done = make(chan struct{})
			go func() {
				gw.Shutdown(ctx)
				close(done)
			}()
		}
	}
}

// writePidfile records our pid, refusing when a live process owns the file.
func writePidfile(path string) error {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			if syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM) {
				return fmt.Errorf("pidfile %s: process %d is still running", path, pid)
			}
		}
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pidfile: %w", err)
	}
	return nil
}

// dropPrivileges switches the whole process to name's uid and gids.
func dropPrivileges(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if os.Geteuid() == uid {
		return nil
	}
	var gids []int
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if n, err := strconv.Atoi(s); err == nil {
				gids = append(gids, n)
			}
		}
	}
	if err := syscall.Setgroups(gids); err != nil {
		return fmt.Errorf("setgroups for %s: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid for %s: %w", name, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid for %s: %w", name, err)
	}
	return nil
}
