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
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/gateway"
	"github.com/pgbun/pgbun/internal/takeover"
	"github.com/pgbun/pgbun/metrics"
)

// run starts pgbun in the foreground (or as the daemon child) and serves
// until it is told to stop.
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
	gen := &cfg.General
	var lf *logFile
	if gen.Logfile != "" {
		if lf, err = openLogFile(gen.Logfile); err != nil {
			return fail(err)
		}
	}
	log, _ := newLogger(o.quiet || ready != nil, o.verbose+gen.Verbose, lf, gen.LogFormat)
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w.String())
	}
	if gen.Pidfile != "" {
		if err := writePidfile(gen.Pidfile, o.reboot); err != nil {
			return fail(err)
		}
		defer removePidfile(gen.Pidfile)
	}
	ctlPath := takeover.Path(gen.UnixSocketDir, gen.ListenPort)
	lns, handedOver, err := listeners(gen, ctlPath, o.reboot, log)
	if err != nil {
		return fail(err)
	}
	runAs := o.user
	if runAs == "" {
		runAs = gen.User
	}
	if runAs != "" {
		if err := dropPrivileges(runAs); err != nil {
			return fail(err)
		}
	}
	gateway.Version = version
	gw, err := gateway.New(cfg, log)
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return fail(err)
	}
	reload := func() error { return reloadFile(gw, log, lf, o.config) }
	if o.config != "" {
		gw.SetReloader(reload)
	}
	for _, ln := range lns {
		log.Info("listening", "addr", ln.Addr().String())
		go func(ln net.Listener) {
			if err := gw.Serve(ln); err != nil {
				log.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
			}
		}(ln)
	}
	if err := gw.StartCertificates(context.Background()); err != nil {
		gw.Close()
		return fail(err)
	}
	if handedOver != nil {
		// Serving on the inherited sockets: the predecessor may go.
		if err := handedOver(); err != nil {
			log.Error("takeover", "err", err)
		} else {
			log.Info("took the listening sockets over; the previous process finishes its clients")
		}
	}
	var ms *metrics.Server
	if gen.MetricsListen != "" {
		if ms, err = metrics.Listen(gen.MetricsListen, gw, log); err != nil {
			gw.Close()
			return fail(err)
		}
		log.Info("metrics listening", "addr", ms.Addr().String())
	}
	successor := make(chan struct{})
	stopOffer, err := takeover.Offer(ctlPath, lns, func() { close(successor) })
	if err != nil {
		log.Warn("binary upgrades by socket hand-over are unavailable", "err", err)
		stopOffer = func() {}
	}
	ready.report(nil)
	log.Info("pgbun started", "version", version, "config", firstOr(cfg.Files, "built-in defaults"), "pid", os.Getpid())
	serveSignals(gw, log, reload, successor, lns)
	stopOffer()
	if ms != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ms.Shutdown(ctx)
		cancel()
	}
	log.Info("pgbun stopped")
	return 0
}

// listeners opens the configured listeners, or with -R takes them over
// from the running pgbun (falling back to opening them when there is
// none). handedOver, when not nil, must be called once serving.
func listeners(gen *config.General, ctlPath string, reboot bool, log *slog.Logger) ([]net.Listener, func() error, error) {
	if reboot {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		lns, ready, err := takeover.Take(ctx, ctlPath)
		switch {
		case err == nil:
			return lns, ready, nil
		case errors.Is(err, os.ErrNotExist):
			log.Warn("-R: no running pgbun to take over from; opening the listeners", "control", ctlPath)
		default:
			return nil, nil, err
		}
	}
	lns, err := gateway.Listen(gen)
	return lns, nil, err
}

// reloadFile re-reads the configuration file and applies it (SIGHUP,
// RELOAD); the logfile is reopened too (log rotation).
func reloadFile(gw *gateway.Gateway, log *slog.Logger, lf *logFile, path string) error {
	if lf != nil {
		if err := lf.Reopen(); err != nil {
			log.Error("reopen logfile", "err", err)
		}
	}
	if path == "" {
		return errors.New("running on built-in defaults: there is no configuration file to reload")
	}
	cfg, err := config.Load(path)
	if err == nil {
		err = gw.Reload(cfg)
	}
	if err != nil {
		log.Error("reload failed, keeping the running configuration", "err", err)
		return err
	}
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w.String())
	}
	log.Info("configuration reloaded", "file", path)
	return nil
}

// serveSignals runs until pgbun must stop. As PgBouncer: SIGHUP reloads;
// SIGTERM stops accepting and waits for clients to leave; SIGINT also
// stops accepting, lets transactions in flight finish, then closes;
// a second SIGTERM or SIGINT, or SIGQUIT, stops at once; SIGUSR1 pauses,
// SIGUSR2 resumes. SHUTDOWN on the console and a successor taking the
// sockets over (pgbun -R) end it the same ways.
func serveSignals(gw *gateway.Gateway, log *slog.Logger, reload func() error, successor <-chan struct{}, lns []net.Listener) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	var done chan struct{}
	ctx, now := context.WithCancel(context.Background())
	defer now()
	stop := func(mode gateway.ShutdownMode, why string) bool {
		if mode == gateway.ShutdownNow || done != nil {
			log.Info("stopping now", "reason", why)
			now()
			if done == nil {
				gw.Close()
				return true
			}
			<-done
			return true
		}
		log.Info("shutting down: no new connections", "mode", string(mode), "reason", why)
		done = make(chan struct{})
		go func() {
			if mode == gateway.ShutdownWaitForServers {
				gw.ShutdownAfterServers(ctx)
			} else {
				gw.Shutdown(ctx)
			}
			close(done)
		}()
		return false
	}
	for {
		select {
		case <-done:
			return
		case mode := <-gw.ShutdownRequests():
			if stop(mode, "SHUTDOWN command") {
				return
			}
		case <-successor:
			successor = nil
			// The sockets now belong to the successor: closing ours must
			// not remove the Unix socket file it serves.
			for _, ln := range lns {
				if ul, ok := ln.(*net.UnixListener); ok {
					ul.SetUnlinkOnClose(false)
				}
			}
			if stop(gateway.ShutdownWaitForClients, "a new pgbun took the listening sockets over") {
				return
			}
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				reload()
			case syscall.SIGUSR1:
				go func() {
					if err := gw.Pause(ctx, ""); err != nil {
						log.Warn("pause", "err", err)
					} else {
						log.Info("paused")
					}
				}()
			case syscall.SIGUSR2:
				gw.Resume("")
				log.Info("resumed")
			case syscall.SIGQUIT:
				stop(gateway.ShutdownNow, "SIGQUIT")
				return
			case syscall.SIGINT:
				if stop(gateway.ShutdownWaitForServers, "SIGINT") {
					return
				}
			case syscall.SIGTERM:
				if stop(gateway.ShutdownWaitForClients, "SIGTERM") {
					return
				}
			}
		}
	}
}

// writePidfile records our pid, refusing when a live process owns the
// file, unless taking over from it (-R).
func writePidfile(path string, takeover bool) error {
	if b, err := os.ReadFile(path); err == nil && !takeover {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
				return fmt.Errorf("pidfile %s: process %d is still running (use -R to take over from it)", path, pid)
			}
		}
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pidfile: %w", err)
	}
	return nil
}

// removePidfile removes the pidfile if it is still ours (a successor
// rewrote it otherwise).
func removePidfile(path string) {
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		os.Remove(path)
	}
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
