"""Optional profiles of one cold pass (--profile): where the time goes on the
read path. Each tool attaches to a running daemon, the workload runs, the
tool is stopped with SIGINT and its summary kept as text."""

import os
import resource
import shutil
import signal
import subprocess
import time


def _attach(argv, settle=0.7):
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    time.sleep(settle)        # perf and strace need a moment to attach
    return p


def _detach(p):
    try:
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out or ""


def _proc_cpu(pid):
    """CPU seconds (user, system) of every thread of pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / hz, int(fields[12]) / hz


def _machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def cpu_budget(pid, work, nbytes):
    """Where the CPU went during work: the daemon's threads, the reader
    (this process), and what stayed idle. Exact (kernel accounting), no
    sampling, no attach delay."""
    d0, r0, m0 = _proc_cpu(pid), resource.getrusage(resource.RUSAGE_SELF), _machine_busy()
    t0 = time.perf_counter()
    work()
    wall = time.perf_counter() - t0
    d1, r1, m1 = _proc_cpu(pid), resource.getrusage(resource.RUSAGE_SELF), _machine_busy()
    du, ds = d1[0] - d0[0], d1[1] - d0[1]
    ru, rs = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
    ncpu = os.cpu_count() or 1
    busy = m1 - m0
    gib = nbytes / float(1 << 30)
    rows = [("wall", wall), ("daemon user", du), ("daemon system", ds),
            ("reader user", ru), ("reader system", rs),
            ("all CPUs busy", busy), ("all CPUs idle", max(0.0, wall * ncpu - busy))]
    text = "%.2f GB/s; CPU seconds per GiB (%d CPUs = %.2f CPU-s per GiB of wall time):\n" % (
        nbytes / wall / 1e9, ncpu, wall * ncpu / gib)
    return text + "".join("  %-16s %6.3f\n" % (k, v / gib) for k, v in rows)


def perf_record(work, datafile, pid=None):
    """Samples of the daemon (pid) while work() runs, or, when work is an
    argv, of the whole machine (both CPUs: reader, daemon and the kernel on
    behalf of both) for exactly as long as that command runs. Returns the
    top entries."""
    if not shutil.which("perf"):
        return "perf not installed\n"
    if pid:
        p = _attach(["perf", "record", "-g", "-F", "999", "-o", datafile, "-p", str(pid)])
        try:
            work()
        finally:
            _detach(p)
    else:
        subprocess.run(["perf", "record", "-q", "-a", "-g", "-F", "999", "-o", datafile,
                        "--"] + work, capture_output=True)
    out = []
    for sort, limit, rows in (("comm,dso", "1", 20), ("comm,dso,symbol", "0.7", 40)):
        rep = subprocess.run(["perf", "report", "-i", datafile, "--stdio", "--no-children",
                              "--sort", sort, "--percent-limit", limit, "-g", "none"],
                             capture_output=True, text=True)
        lines = [ln.rstrip() for ln in rep.stdout.splitlines()
                 if ln.strip() and not ln.startswith("#")]
        out.append("-- by %s\n%s\n" % (sort, "\n".join(lines[:rows])))
    return "".join(out)


def strace_count(pid, work):
    if not shutil.which("strace"):
        return "strace not installed\n"
    p = _attach(["strace", "-c", "-f", "-p", str(pid)])
    try:
        work()
    finally:
        out = _detach(p)
    return out


def fuse_request_sizes(pid, work, outfile):
    """Sizes of the replies the daemon writes to /dev/fuse during work: the
    size of the FUSE read requests the kernel sends."""
    if not shutil.which("strace"):
        return {}
    p = _attach(["strace", "-f", "-qq", "-e", "trace=writev", "-e", "abbrev=all",
                 "-o", outfile, "-p", str(pid)])
    try:
        work()
    finally:
        _detach(p)
    sizes = {}
    try:
        with open(outfile) as f:
            for line in f:
                tail = line.rsplit("=", 1)
                if len(tail) == 2 and "writev(" in line:
                    try:
                        n = int(tail[1].split()[0])
                    except ValueError:
                        continue
                    sizes[n] = sizes.get(n, 0) + 1
    except OSError:
        pass
    os.unlink(outfile) if os.path.exists(outfile) else None
    return sizes


FUSE_OPCODES = {1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 5: "READLINK", 14: "OPEN",
                15: "READ", 17: "STATFS", 18: "RELEASE", 22: "GETXATTR", 25: "FLUSH",
                26: "INIT", 27: "OPENDIR", 28: "READDIR", 29: "RELEASEDIR", 34: "ACCESS",
                36: "INTERRUPT", 38: "DESTROY", 39: "IOCTL", 40: "POLL", 42: "BATCH_FORGET",
                44: "READDIRPLUS", 46: "LSEEK"}


def fuse_requests(pid, work, outfile):
    """Which FUSE requests the kernel sends the daemon during work: the
    opcode of every read() from /dev/fuse, counted."""
    if not shutil.which("strace"):
        return {}
    p = _attach(["strace", "-f", "-qq", "-e", "trace=read", "-xx", "-s", "8",
                 "-o", outfile, "-p", str(pid)])
    try:
        work()
    finally:
        _detach(p)
    counts = {}
    try:
        with open(outfile) as f:
            for line in f:
                q = line.find('"')
                if ("read(" not in line and "read resumed>" not in line) or q < 0:
                    continue
                raw = line[q + 1:line.find('"', q + 1)].replace("\\x", "")
                ret = line.rsplit("=", 1)[-1].split()
                if len(raw) < 16 or not ret or not ret[0].isdigit():
                    continue
                head = bytes.fromhex(raw[:16])
                if int.from_bytes(head[:4], "little") != int(ret[0]):
                    continue         # not a FUSE request: its length field is the size read
                op = int.from_bytes(head[4:8], "little")
                name = FUSE_OPCODES.get(op, "op%d" % op)
                counts[name] = counts.get(name, 0) + 1
    except (OSError, ValueError):
        pass
    if os.path.exists(outfile):
        os.unlink(outfile)
    return counts
