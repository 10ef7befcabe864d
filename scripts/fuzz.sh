#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME (default 4s) each.
set -euo pipefail
FUZZTIME=${FUZZTIME:-4s}
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "fuzz $pkg $target ($FUZZTIME)"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/pgbun-fuzz.log 2>&1 || {
			cat /tmp/pgbun-fuzz.log
			exit 1
		}
	done
done
