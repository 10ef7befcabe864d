// Package deps pins module dependencies while the packages that use them are
// being written; it is removed once every dependency has a real importer.
package deps

import (
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/pgproto3"
	_ "github.com/xdg-go/scram"
	_ "github.com/xdg-go/stringprep"
	_ "go.uber.org/goleak"
	_ "golang.org/x/crypto/pbkdf2"
	_ "golang.org/x/sync/singleflight"
	_ "golang.org/x/sys/unix"
)
