#!/usr/bin/env bash
# Installs what pgbun's tests, demo and benchmark need when it is missing:
# PostgreSQL server binaries (and psql, pgbench) and, for the benchmark,
# PgBouncer. Needs root (or sudo) only when something must be installed.
set -euo pipefail
want=()
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ -z "${PGBIN:-}" ]; then
	want+=(postgresql)
fi
command -v psql >/dev/null 2>&1 || want+=(postgresql-client)
if [ "${1:-}" = "--bench" ] || [ -n "${WITH_PGBOUNCER:-}" ]; then
	command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || want+=(pgbouncer)
fi
[ ${#want[@]} -eq 0 ] && exit 0
echo "installing: ${want[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${want[@]}" >/dev/null
