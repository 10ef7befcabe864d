#!/usr/bin/env bash
# Installs what pgbun's tests, demo and benchmark need when it is missing:
# PostgreSQL server binaries (and psql, pgbench); with --bench or
# WITH_PGBOUNCER=1, PgBouncer; with --drivers or WITH_DRIVERS=1, the client
# libraries the driver tests run (psycopg 3, asyncpg, pgJDBC with a Java
# runtime, Node.js with node-postgres and postgres.js from npm). Needs root
# (or sudo) only when something must be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bench="${WITH_PGBOUNCER:-}"
drivers="${WITH_DRIVERS:-}"
for arg in "$@"; do
	case "$arg" in
	--bench) bench=1 ;;
	--drivers) drivers=1 ;;
	*) echo "deps.sh: unknown argument $arg" >&2; exit 2 ;;
	esac
done

want=()
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ -z "${PGBIN:-}" ]; then
	want+=(postgresql)
fi
command -v psql >/dev/null 2>&1 || want+=(postgresql-client)
if [ -n "$bench" ]; then
	command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || want+=(pgbouncer)
fi
if [ -n "$drivers" ]; then
	# Debian's python3 is the one these modules install for.
	/usr/bin/python3 -c 'import psycopg' >/dev/null 2>&1 || want+=(python3-psycopg)
	/usr/bin/python3 -c 'import asyncpg' >/dev/null 2>&1 || want+=(python3-asyncpg)
	[ -e /usr/share/java/postgresql.jar ] || want+=(libpostgresql-jdbc-java)
	command -v java >/dev/null 2>&1 || want+=(default-jre-headless)
	# A Node.js from elsewhere usually brings its own npm: add only what
	# is missing, so Debian's packages do not fight it.
	command -v node >/dev/null 2>&1 || want+=(nodejs)
	command -v npm >/dev/null 2>&1 || want+=(npm)
fi

if [ ${#want[@]} -gt 0 ]; then
	echo "installing: ${want[*]}" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq "${want[@]}" >/dev/null
fi

if [ -n "$drivers" ]; then
	node_dir=gateway/testdata/drivers/node
	# npm ci installs exactly the locked versions; skip it when the
	# versions package.json names are already there.
	installed='const p = require("./package.json");
		for (const [m, v] of Object.entries(p.dependencies)) {
			if (require("./node_modules/" + m + "/package.json").version !== v) process.exit(1);
		}'
	if ! (cd "$node_dir" && node -e "$installed") >/dev/null 2>&1; then
		echo "installing npm modules in $node_dir" >&2
		(cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
fi
