#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME (default 4s) each.
#
# Go 1.26's fuzz coordinator can end a duration-bounded run with a bare
# "context deadline exceeded" when the deadline fires while a worker is
# between inputs (golang/go#75804, fixed in Go 1.27). Such a run found
# nothing: a real finding always writes "Failing input written to". A target
# that fails that way is run once more; any other failure fails at once.
set -euo pipefail
FUZZTIME=${FUZZTIME:-4s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

deadline_flake() {
	grep -q 'context deadline exceeded' "$log" &&
		! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"
}

for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		for attempt in 1 2; do
			echo "fuzz $pkg $target ($FUZZTIME)"
			if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >"$log" 2>&1; then
				break
			fi
			if [ "$attempt" = 1 ] && deadline_flake; then
				echo "  ended on the fuzz coordinator's deadline race with no finding; running it again"
				continue
			fi
			cat "$log"
			exit 1
		done
	done
done
