#!/usr/bin/env bash
# Regenerates testdata/fakehost/{v1,v2} from this machine: a root shell on a cgroup-v1
# hybrid host (v1 controllers under /sys/fs/cgroup/<ctrl>, cgroup2 at
# /sys/fs/cgroup/unified) with dockerd (cgroupfs driver) and the local image
# whippet-busybox:latest (scripts/setup-test-host.sh). Run from the repository root:
#
#	bash testdata/fakehost/capture.sh
#
# Everything under v1/ is a byte copy of kernel and Docker output, except what
# README.md lists as edited. v2/ reuses the same kind of capture (its own containers)
# but its cgroup tree and /proc/<pid>/cgroup files are synthesized (synth-v2.sh),
# because this machine has no cgroup v2 controllers.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMG=whippet-busybox:latest
SOCK=/var/run/docker.sock
API=v1.41
CG=/sys/fs/cgroup
RAW=${RAW:-/tmp/fakehost-raw}   # v1 cgroup copies of the v2 scenario's containers
CTRLS="cpu cpuacct cpuset memory blkio pids unified"

[ "$(id -u)" = 0 ] || { echo "capture.sh: must run as root" >&2; exit 1; }
[ -f "$CG/unified/cgroup.controllers" ] || { echo "capture.sh: needs a cgroup v1 hybrid host" >&2; exit 1; }

dapi() { curl -sS --unix-socket "$SOCK" "http://localhost/$API/$1"; }
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# copy_proc SRC DST: the per-process files, byte for byte; a file the kernel refuses is left out.
copy_proc() {
	mkdir -p "$2"
	for f in stat statm status io cmdline cgroup comm; do
		cat "$1/$f" >"$2/$f" 2>/dev/null || rm -f "$2/$f"
	done
}

# copy_cgdir SRC DST: the readable regular files of one cgroup directory (not its children).
copy_cgdir() {
	[ -d "$1" ] || return 0
	mkdir -p "$2"
	find "$1" -maxdepth 1 -type f -perm -u+r -print0 | while IFS= read -r -d '' f; do
		cat "$f" >"$2/$(basename "$f")" 2>/dev/null || rm -f "$2/$(basename "$f")"
	done
}

# The processes both fixtures share, started once: see README.md "Edge cases".
start_edge_procs() {
	# (a) comm "a) b\nc": only a task itself may write its comm (comm_write returns
	# EINVAL for other processes), in one write (each write replaces the comm; bash's
	# printf writes line by line), so perl writes /proc/self/comm and sleeps.
	perl -e 'open F, ">/proc/self/comm" or die; print F "a) b\nc"; close F; sleep 100000' &
	EDGE_COMM=$!
	# (c) zombie: bash forks true, then execs sleep, which never reaps it.
	bash -c '/bin/true & exec sleep 100000' &
	EDGE_ZPARENT=$!
	# (e) uid and gid 4242, absent from /etc/passwd.
	setpriv --reuid 4242 --regid 4242 --clear-groups sleep 100000 &
	EDGE_UID=$!
	# (f) argv rewritten like nginx (ngx.py): master without NUL, worker NUL-padded.
	local py; py=$(command -v python3); py=$("$py" -c 'import sys; print(sys.executable)')
	mkdir -p /tmp/ngx && cp "$HERE/ngx.py" /tmp/ngx/ngx.py
	"$py" /tmp/ngx/ngx.py &
	EDGE_NGX=$!
	sleep 1
	EDGE_ZOMBIE=$(ps -o pid= --ppid "$EDGE_ZPARENT" | tr -d ' ')
	EDGE_NGXW=$(ps -o pid= --ppid "$EDGE_NGX" | tr -d ' ')
	# (d) a pid that was real and is gone: its directory is recreated empty.
	sleep 0 & EDGE_GONE=$!; wait "$EDGE_GONE" || true
}

stop_edge_procs() {
	kill "$EDGE_COMM" "$EDGE_ZPARENT" "$EDGE_UID" "$EDGE_NGXW" "$EDGE_NGX" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf /tmp/ngx
}

kthread() { # first kernel thread whose comm matches $1
	for d in /proc/[0-9]*; do
		[ "$(cat "$d/stat" 2>/dev/null | awk '{print $4}')" = 2 ] || continue
		case "$(cat "$d/comm" 2>/dev/null)" in $1) basename "$d"; return ;; esac
	done
}

# scenario NAME CLUSTER FAMILY REV ECS1 ECS2 PLAIN EXITED PARENT_STYLE
# Runs two ECS task containers, one plain container and one that exits, captures the
# host into $HERE/NAME, removes the containers, and records the events.
scenario() {
	local name=$1 cluster=$2 family=$3 rev=$4 c1=$5 c2=$6 plain=$7 exited=$8 style=$9
	local out="$HERE/$name" task parent t0 arn
	task=$(hex 16)
	arn="arn:aws:ecs:us-east-1:123456789012:task/$cluster/$task"
	if [ "$style" = ecs ]; then
		# AL2-style /ecs/<task>/<id> (cgroupfs): the ECS agent creates the task cgroup
		# with the task-level limits first, then passes it as the cgroup parent.
		parent=/ecs/$task
		for c in cpu cpuacct cpuset memory blkio pids; do mkdir -p "$CG/$c$parent"; done
		echo 100000 >"$CG/cpu$parent/cpu.cfs_period_us"
		echo 50000 >"$CG/cpu$parent/cpu.cfs_quota_us"
		echo 512 >"$CG/cpu$parent/cpu.shares"
		echo $((512 << 20)) >"$CG/memory$parent/memory.limit_in_bytes"
	else
		# AL2023-style systemd slice name; here (cgroupfs) only a directory name.
		parent=ecstasks-$task.slice
	fi
	rm -rf "$out"; mkdir -p "$out/proc" "$out/etc" "$out/docker/containers" "$out/sys/fs/cgroup"
	t0=$(date +%s)

	ecs_labels() { # container-name
		echo --label "com.amazonaws.ecs.cluster=$cluster" --label "com.amazonaws.ecs.task-arn=$arn" \
			--label "com.amazonaws.ecs.container-name=$1" \
			--label "com.amazonaws.ecs.task-definition-family=$family" \
			--label "com.amazonaws.ecs.task-definition-version=$rev"
	}
	# shellcheck disable=SC2046
	docker run -d --network none --name "ecs-$family-$rev-$c1-$(hex 10)" $(ecs_labels "$c1") \
		--label 'com.datadoghq.ad.tags=["team:core"]' \
		--cgroup-parent "$parent" --cpu-shares 256 --memory 256m --memory-reservation 128m \
		--device-read-bps /dev/vda:1gb --device-write-bps /dev/vda:1gb \
		-e DD_ENV=production -e "DD_SERVICE=$c1" \
		"$IMG" sh -c 'dd if=/dev/zero of=/tmp/blob bs=64k count=64 oflag=direct 2>/dev/null
dd if=/tmp/blob of=/dev/null bs=64k iflag=direct 2>/dev/null
i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done
sleep 100000 & sleep 100000 & sleep 100000 & wait' >/dev/null
	# shellcheck disable=SC2046
	docker run -d --network none --name "ecs-$family-$rev-$c2-$(hex 10)" $(ecs_labels "$c2") \
		--cgroup-parent "$parent" --cpu-shares 128 --memory 128m --user 1000:1000 \
		"$IMG" sh -c 'i=0; while [ $i -lt 10000 ]; do i=$((i+1)); done
head -c 1048576 /dev/zero >/dev/null
sleep 100000 & sleep 100000 & wait' >/dev/null
	# (g) a command line over 8 KiB: sh keeps its argv while it waits.
	local cp="" i
	for i in $(seq 1 140); do cp="$cp${cp:+:}/opt/$plain/lib/dependency-$i-library-component-1.$i.0.jar"; done
	docker run -d --network none --name "$plain" \
		--label com.datadoghq.tags.env=staging --label "com.datadoghq.tags.service=$plain" \
		--label com.datadoghq.tags.version=1.4.2 \
		--cpus 1.5 --memory 512m --pids-limit 100 \
		"$IMG" sh -c 'sleep 100000 & sleep 100000 & wait' "$plain" \
		-Xms256m -Xmx512m -Dspring.profiles.active=staging \
		-Dspring.datasource.password=NOT-A-REAL-SECRET -cp "$cp" \
		com.example.Main --api-key=NOT-A-REAL-KEY >/dev/null
	docker run --network none --name "$exited" "$IMG" sh -c 'echo done' >/dev/null
	sleep 3

	# --- processes ---
	local ids pids="" id cpid
	ids=$(docker ps -q --no-trunc)
	for id in $ids; do
		cpid=$(docker inspect -f '{{.State.Pid}}' "$id")
		pids="$pids $(awk '{print $4}' "/proc/$cpid/stat")"                                 # shim
		pids="$pids $(cat "$CG/pids$(awk -F: '$2=="pids"{print $3}' "/proc/$cpid/cgroup")/cgroup.procs")"
	done
	pids="$pids 1 $$ $(pidof dockerd) $(pidof containerd) 2"
	for k in 'ksoftirqd/0' 'migration/0' 'cpuhp/0' rcu_preempt kdevtmpfs kauditd khungtaskd \
		oom_reaper kswapd0 khugepaged ksmd 'kworker/R-*'; do
		pids="$pids $(kthread "$k")"
	done
	pids="$pids $EDGE_COMM $EDGE_ZPARENT $EDGE_ZOMBIE $EDGE_UID $EDGE_NGX $EDGE_NGXW"
	for p in $pids; do copy_proc "/proc/$p" "$out/proc/$p"; done
	mkdir -p "$out/proc/$EDGE_GONE" && touch "$out/proc/$EDGE_GONE/.gitkeep"
	ln -s "$$" "$out/proc/self"

	# --- host files ---
	for f in stat meminfo loadavg uptime vmstat diskstats; do cat "/proc/$f" >"$out/proc/$f"; done
	mkdir -p "$out/proc/1/net" "$out/proc/net" "$out/proc/sys/kernel" "$out/proc/pressure"
	cat /proc/1/net/dev >"$out/proc/1/net/dev"
	cp "$out/proc/1/net/dev" "$out/proc/net/dev"
	cat /proc/sys/kernel/pid_max >"$out/proc/sys/kernel/pid_max"
	for f in cpu memory io; do cat "/proc/pressure/$f" >"$out/proc/pressure/$f"; done
	sed 's/^cloudsdk:x:1000:1000::\/home\/cloudsdk:/app:x:1000:1000::\/home\/app:/' /etc/passwd >"$out/etc/passwd"

	# --- cgroups (v1 layout, byte copies) ---
	local cgout=$out/sys/fs/cgroup
	[ "$style" = ecs ] || cgout=$RAW/$name
	rm -rf "$cgout"; mkdir -p "$cgout"
	for id in $ids; do
		cpid=$(docker inspect -f '{{.State.Pid}}' "$id")
		for c in $CTRLS; do
			local key=$c path
			[ "$c" = unified ] && key=""
			path=$(awk -F: -v k="$key" '$2==k{print $3}' "/proc/$cpid/cgroup")
			copy_cgdir "$CG/$c$path" "$cgout/$c$path"
		done
	done
	if [ "$style" = ecs ]; then
		for c in $CTRLS; do copy_cgdir "$CG/$c$parent" "$cgout/$c$parent"; done
		copy_cgdir "$CG/unified" "$cgout/unified"
		rm -f "$cgout/unified/cgroup.procs" "$cgout/unified/cgroup.threads" # every pid on the machine
	fi

	# --- Docker Engine API ---
	curl -sS -i --unix-socket "$SOCK" http://localhost/_ping >"$out/docker/_ping"
	dapi version >"$out/docker/version.json"
	dapi 'containers/json?all=1' >"$out/docker/containers.json"
	for id in $(docker ps -aq --no-trunc); do dapi "containers/$id/json" >"$out/docker/containers/$id.json"; done

	# --- tear down, then the events of the whole scenario ---
	docker rm -f $(docker ps -aq) >/dev/null
	sleep 1
	curl -sS -G --unix-socket "$SOCK" "http://localhost/$API/events" \
		--data-urlencode "since=$t0" --data-urlencode "until=$(($(date +%s) + 1))" \
		--data-urlencode 'filters={"type":["container"],"event":["create","start","die","destroy"]}' \
		>"$out/docker/events.jsonl"
	for c in "$CG"/*/; do
		rmdir "$c/ecs/$task" "$c/ecstasks-$task.slice" 2>/dev/null || true
		rmdir "$c/ecs" 2>/dev/null || true
	done
	find "$CG/memory" -depth -type d -name "ecstasks-$task.slice" -exec rmdir {} + 2>/dev/null || true
	echo "$name: task=$task pids=$(echo $pids | wc -w)" >&2
}

[ -z "$(docker ps -aq)" ] || { echo "capture.sh: docker has containers; remove them first" >&2; exit 1; }
trap stop_edge_procs EXIT
start_edge_procs
scenario v1 prod-ecs webapp 7 web log-router billing-worker db-migrate ecs
scenario v2 prod-ecs-al2023 api 12 api envoy cron-runner schema-check slice
[ "${SKIP_SYNTH:-}" ] || { bash "$HERE/synth-v2.sh" "$HERE/v2" "$RAW/v2" && rm -rf "$RAW"; }
