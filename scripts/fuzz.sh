#!/usr/bin/env bash
# Runs every Fuzz target of the module for FUZZTIME each (CI: a few seconds, so
# the whole pass stays within ~5 minutes). A failing input is written by go test
# under the package's testdata/fuzz/<Target>/ and fails the run: commit it, fix
# the bug, and it stays a regression test.
#
#   scripts/fuzz.sh [FUZZTIME]            # default 3s per target
#   scripts/fuzz.sh --export [FUZZTIME]   # also copy up to 16 generated corpus
#                                         # entries per target into testdata/fuzz
set -euo pipefail
export=0
if [ "${1:-}" = "--export" ]; then export=1; shift; fi
FUZZTIME=${1:-3s}
GO=${GO:-go}
cache=$($GO env GOCACHE)/fuzz
n=0
start=$(date +%s)
for pkg in $($GO list ./...); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	for f in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		n=$((n + 1))
		echo "fuzz $pkg $f ($FUZZTIME)"
		ok=0
		for attempt in 1 2; do
			before=$(ls "$dir/testdata/fuzz/$f" 2>/dev/null | wc -l)
			if $GO test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" -parallel 2 "$pkg" >/tmp/whippet-fuzz.log 2>&1; then
				ok=1
				break
			fi
			after=$(ls "$dir/testdata/fuzz/$f" 2>/dev/null | wc -l)
			# The fuzz engine itself sometimes misses its own deadline on a loaded
			# machine ("context deadline exceeded", no failing input written): that
			# is not a finding, so the target gets one more run.
			if [ "$after" = "$before" ] && grep -q 'context deadline exceeded' /tmp/whippet-fuzz.log; then
				echo "fuzz: $f: the engine missed its deadline (no input written); retrying once" >&2
				continue
			fi
			break
		done
		if [ "$ok" != 1 ]; then
			cat /tmp/whippet-fuzz.log
			echo "fuzz: $pkg $f failed; the input is under $dir/testdata/fuzz/$f" >&2
			exit 1
		fi
		if [ "$export" = 1 ] && [ -d "$cache/$pkg/$f" ]; then
			mkdir -p "$dir/testdata/fuzz/$f"
			ls -t "$cache/$pkg/$f" | head -16 | while read -r e; do
				cp -n "$cache/$pkg/$f/$e" "$dir/testdata/fuzz/$f/$e"
			done
		fi
	done
done
echo "fuzz: $n targets, $(($(date +%s) - start)) s"
