package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"sync"
	"syscall"
)

// osUser is the `postgres` OS account, resolved once per process.
type osUser struct {
	uid, gid uint32
	groups   []uint32
	home     string
}

// postgresUser looks the account up once; the cache is safe for concurrent
// use and accounts do not change while a test binary runs.
var postgresUser = sync.OnceValues(func() (osUser, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return osUser{}, fmt.Errorf("look up OS user \"postgres\" (PostgreSQL refuses to run as root; "+
			"install the postgresql package or create the user): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return osUser{}, fmt.Errorf("OS user \"postgres\": uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return osUser{}, fmt.Errorf("OS user \"postgres\": gid %q: %w", u.Gid, err)
	}
	gids, err := u.GroupIds()
	if err != nil {
		return osUser{}, fmt.Errorf("OS user \"postgres\": groups: %w", err)
	}
	ou := osUser{uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}
	for _, g := range gids {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return osUser{}, fmt.Errorf("OS user \"postgres\": group id %q: %w", g, err)
		}
		ou.groups = append(ou.groups, uint32(n))
	}
	return ou, nil
})

// AsPostgres makes cmd run as the `postgres` OS user when the current
// process runs as root: it sets SysProcAttr.Credential (uid, gid and
// supplementary groups, keeping other SysProcAttr fields), HOME, USER and
// LOGNAME, and, when cmd.Dir is empty, the working directory to that home,
// because PostgreSQL's programs fail when they cannot resolve a working
// directory they are not allowed to enter. For any other user it does nothing.
// Call it before cmd.Start.
func AsPostgres(cmd *exec.Cmd) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := postgresUser()
	if err != nil {
		return fmt.Errorf("run %s as postgres: %w", cmd.Path, err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = envWith(env, "HOME="+u.home, "USER=postgres", "LOGNAME=postgres")
	if cmd.Dir == "" {
		cmd.Dir = u.home
	}
	return nil
}

// chownPostgres gives path to the `postgres` user when running as root, so
// the server can read or write it; otherwise the server runs as the current
// user, who already owns it.
func chownPostgres(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := postgresUser()
	if err != nil {
		return err
	}
	if err := os.Lchown(path, int(u.uid), int(u.gid)); err != nil {
		return fmt.Errorf("chown %s to postgres: %w", path, err)
	}
	return nil
}
