# Fake nginx (testdata/fakehost/capture.sh edge case f): rewrites its own argv area the way setproctitle(3)/nginx do.
# Stage 1 re-execs with an empty environment and argv sized so that the master
# title fills [arg_start, arg_end) exactly: the kernel then takes its
# get_mm_proctitle() path and /proc/<pid>/cmdline has no NUL at all.
# The worker child writes a shorter title padded with NULs (what real workers show).
import os, signal, sys

MASTER = b"nginx: master process /usr/sbin/nginx"
WORKER = b"nginx: worker process"

def areas():
    with open("/proc/self/stat", "rb") as f:
        st = f.read()
    fl = st[st.rindex(b")") + 2:].split()
    return tuple(int(fl[i]) for i in (45, 46, 47, 48))  # arg_start arg_end env_start env_end

def setproctitle(title):
    arg_start, arg_end, env_start, env_end = areas()
    area = env_end - arg_start
    with open("/proc/self/mem", "r+b", buffering=0) as m:
        m.seek(arg_start)
        m.write(title + b"\0" * (area - len(title)))
    with open("/proc/self/comm", "w") as f:
        f.write("nginx")

script = os.path.abspath(sys.argv[0])
if len(sys.argv) < 3 or sys.argv[1] != "master":
    base = len(b"nginx\0") + len(script) + 1 + len(b"master\0") + 1
    pad = "x" * (len(MASTER) - base)
    os.execve(sys.executable, ["nginx", script, "master", pad], {})

arg_start, arg_end, env_start, env_end = areas()
assert env_start == env_end == arg_end and arg_end - arg_start == len(MASTER), areas()
pid = os.fork()
if pid == 0:
    setproctitle(WORKER)
    os.setgroups([]); os.setgid(33); os.setuid(33)
    signal.pause()
    os._exit(0)
setproctitle(MASTER)
signal.pause()
