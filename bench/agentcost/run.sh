#!/usr/bin/env bash
# Measures whippet's own CPU and RSS on this machine's Docker engine with N real
# containers per size, shipping to a local fake intake with process collection
# on, and writes the raw samples and the summary table to
# bench/results/agentcost.txt (OUT= to change).
#
#   bench/agentcost/run.sh [SIZES] [MINUTES]      default: "10 50 150" 3
#
# Needs root, a running dockerd and whippet-busybox:latest
# (scripts/setup-test-host.sh). Environment: WARMUP (s, default 60),
# PROFILE_SIZE (size at which to take a CPU profile after sampling, default the
# largest; "none" to skip), PROFILE_SECONDS (default 90), KEEP=1 keeps the work
# directory (logs, profiles), EXTRA_ENV="K=V ..." more variables for the daemon
# (e.g. GOMEMLIMIT=20MiB, or hour-long intervals to measure the cost between
# cycles).
set -euo pipefail

SIZES=${1:-"10 50 150"}
MINUTES=${2:-3}
WARMUP=${WARMUP:-60}
PROFILE_SECONDS=${PROFILE_SECONDS:-90}
PROFILE_SIZE=${PROFILE_SIZE:-$(echo "$SIZES" | tr ' ' '\n' | sort -n | tail -1)}
IMAGE=whippet-busybox:latest
PREFIX=whippet-cost-
KEY=0123456789abcdef0123456789abcdef

root=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$root/bench/results/agentcost.txt}
log() { echo "agentcost: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "needs root (reads the daemon's /proc, loads eBPF)"; exit 1; }
docker version >/dev/null 2>&1 || { log "no Docker engine answering: run scripts/setup-test-host.sh"; exit 1; }
docker image inspect "$IMAGE" >/dev/null 2>&1 || { log "image $IMAGE missing: run scripts/setup-test-host.sh"; exit 1; }

work=$(mktemp -d /tmp/agentcost.XXXXXX)
wpid="" fpid=""
remove_containers() {
	docker ps -aq --filter "name=^/${PREFIX}" | xargs -r docker rm -f >/dev/null 2>&1 || true
}
stop() { # pid: TERM, then KILL after 25 s (the daemon flushes for up to 20 s)
	local p=$1
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
	kill "$p" 2>/dev/null || true
	for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.5; done
	kill -9 "$p" 2>/dev/null || true
}
cleanup() {
	stop "$wpid"
	stop "$fpid"
	remove_containers
	if [ "${KEEP:-0}" = 1 ]; then log "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		[ -z "$(ss -Htln "sport = :$p")" ] && { echo "$p"; return; }
	done
}

# run_one I RUN: container I of the run; 5 of 6 wake every second, the sixth
# sleeps. Three containers share an ECS task.
run_one() {
	local i=$1 run=$2 role cmd task
	if [ $((i % 6)) = 5 ]; then
		role=idle cmd=(sleep 3600)
	else
		role=loop cmd=(sh -c 'while true; do sleep 1; done')
	fi
	task=$(printf 'arn:aws:ecs:us-east-1:123456789012:task/whippet-cost/%s%08d' "$run" $((i / 3)))
	docker run -d --network none --name "${PREFIX}${i}" \
		--label com.amazonaws.ecs.cluster=whippet-cost \
		--label "com.amazonaws.ecs.task-arn=$task" \
		--label "com.amazonaws.ecs.container-name=$role" \
		--label com.amazonaws.ecs.task-definition-family=whippet-cost \
		--label com.amazonaws.ecs.task-definition-version=1 \
		"$IMAGE" "${cmd[@]}" >/dev/null
}
export -f run_one
export PREFIX IMAGE

log "building whippet and agentcost"
# The agent built as `make build` builds it for the image: static, stripped.
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/whippet" ./cmd/agent &&
	go build -o "$work/fakeintake" ./cmd/fakeintake)
(cd "$root/bench" && go build -o "$work/agentcost" ./agentcost)

raw=$work/raw.txt
{
	echo "# whippet agent cost: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# command: bench/agentcost/run.sh \"$SIZES\" $MINUTES (warm-up ${WARMUP}s, samples every 15 s)"
	echo "# host: $(uname -sr), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), docker $(docker version -f '{{.Server.Version}}')"
	echo "# whippet: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown) (+ working tree), binary $(du -k "$work/whippet" | cut -f1) KiB"
	echo "# daemon environment beyond the defaults: ${EXTRA_ENV:-none}"
	echo "# mix: 5 of 6 containers 'while true; do sleep 1; done', the rest 'sleep 3600'; --network none; ECS labels, 3 per task"
	echo "# other containers on the engine at start: $(docker ps -q | wc -l)"
} >"$raw"

for n in $SIZES; do
	log "size $n: starting containers"
	remove_containers
	run=$(printf '%04x' $((RANDOM)))
	seq 0 $((n - 1)) | xargs -P 4 -I{} bash -c 'run_one "$1" "$2"' _ {} "$run"
	running=$(docker ps -q --filter "name=^/${PREFIX}" | wc -l)
	[ "$running" = "$n" ] || { log "size $n: only $running containers running"; exit 1; }

	ip=$(free_port) sp=$(free_port)
	"$work/fakeintake" -addr "127.0.0.1:$ip" -api-key "$KEY" >"$work/intake-$n.log" 2>&1 &
	fpid=$!
	for _ in $(seq 1 40); do grep -q listening "$work/intake-$n.log" && break; sleep 0.25; done
	mkdir -p "$work/spool-$n"
	DD_HOSTNAME=cost DD_PROCESS_AGENT_ENABLED=true DD_API_KEY=$KEY \
		DD_DD_URL="http://127.0.0.1:$ip" DD_PROCESS_CONFIG_PROCESS_DD_URL="http://127.0.0.1:$ip" \
		DD_WHIPPET_SPOOL_DIR="$work/spool-$n" DD_WHIPPET_STATUS_ADDR="127.0.0.1:$sp" DD_WHIPPET_PPROF=true \
		env ${EXTRA_ENV:-} "$work/whippet" run >"$work/whippet-$n.log" 2>&1 &
	wpid=$!
	log "size $n: whippet pid $wpid, warming up ${WARMUP}s, sampling ${MINUTES} min"
	{
		echo
		echo "## size $n ($(docker ps -q | wc -l) containers on the engine, load $(cut -d' ' -f1-3 /proc/loadavg))"
	} >>"$raw"
	"$work/agentcost" sample -pid "$wpid" -status "127.0.0.1:$sp" -size "$n" \
		-warmup "${WARMUP}s" -duration "${MINUTES}m" -every 15s | tee -a "$raw" | grep '^summary' >&2 ||
		{ log "size $n: sampling failed; whippet log tail:"; tail -20 "$work/whippet-$n.log" >&2; exit 1; }

	if [ "$n" = "$PROFILE_SIZE" ]; then
		log "size $n: CPU profile over ${PROFILE_SECONDS}s"
		curl -sf -o "$work/cpu-$n.pprof" "http://127.0.0.1:$sp/debug/pprof/profile?seconds=$PROFILE_SECONDS"
		cyc=$(DD_WHIPPET_STATUS_ADDR="127.0.0.1:$sp" "$work/whippet" status --json | sed -n 's/^ *"cycles": \([0-9]*\),/\1/p')
		{
			echo
			echo "## CPU profile at size $n over ${PROFILE_SECONDS}s (cycles so far: $cyc; go tool pprof -top)"
			(cd "$root" && go tool pprof -top -nodecount=15 "$work/whippet" "$work/cpu-$n.pprof" 2>/dev/null)
			echo
			echo "## same profile, cumulative (go tool pprof -top -cum)"
			(cd "$root" && go tool pprof -top -cum -nodecount=30 "$work/whippet" "$work/cpu-$n.pprof" 2>/dev/null)
			echo
			echo "## heap in use at the end (go tool pprof -sample_index=inuse_space -top)"
			curl -sf -o "$work/heap-$n.pprof" "http://127.0.0.1:$sp/debug/pprof/heap" &&
				(cd "$root" && go tool pprof -sample_index=inuse_space -top -nodecount=12 "$work/whippet" "$work/heap-$n.pprof" 2>/dev/null)
		} >>"$raw"
	fi

	{
		echo "intake: $(grep -c ' POST ' "$work/intake-$n.log" || true) POSTs, non-2xx: $(grep -E '^[0-9:.]+ [^2][0-9][0-9] ' "$work/intake-$n.log" | wc -l)"
		echo "whippet log: $(grep -c 'level=WARN' "$work/whippet-$n.log" || true) warnings, $(grep -c 'level=ERROR' "$work/whippet-$n.log" || true) errors"
		grep -E 'level=(WARN|ERROR)' "$work/whippet-$n.log" | cut -c1-300 | sort | uniq -c | sort -rn | head -5 || true
	} >>"$raw"
	stop "$wpid"
	wpid=""
	stop "$fpid"
	fpid=""
	remove_containers
done

{
	echo
	echo "## summary ($(date -u +%H:%M:%SZ))"
	"$work/agentcost" table "$raw"
} >>"$raw"
mkdir -p "$(dirname "$OUT")"
cp "$raw" "$OUT"
sed -n '/^## summary/,$p' "$OUT"
log "written to $OUT"
