"""Optional profiles of one cold pass (--profile): where the time goes on the
read path. Each tool attaches to a running daemon, the workload runs, the
tool is stopped with SIGINT and its summary kept as text."""

import os
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


def perf_stat(pid, work, outfile):
    if not shutil.which("perf"):
        return "perf not installed\n"
    p = _attach(["perf", "stat", "-p", str(pid), "-o", outfile, "-e",
                 "task-clock,context-switches,cpu-migrations,page-faults,cycles,instructions"])
    try:
        work()
    finally:
        _detach(p)
    try:
        with open(outfile) as f:
            return f.read()
    except OSError:
        return "perf stat wrote nothing\n"


def perf_record(work, datafile, pid=None):
    """System-wide (both cores: the reader, the daemon and the kernel work
    on behalf of both) unless pid is given; returns the top symbols."""
    if not shutil.which("perf"):
        return "perf not installed\n"
    target = ["-p", str(pid)] if pid else ["-a"]
    p = _attach(["perf", "record", "-g", "-F", "999", "-o", datafile] + target)
    try:
        work()
    finally:
        _detach(p)
    rep = subprocess.run(["perf", "report", "-i", datafile, "--stdio", "--no-children",
                          "--sort", "comm,dso,symbol", "--percent-limit", "0.7", "-g", "none"],
                         capture_output=True, text=True)
    lines = [ln for ln in rep.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    return "\n".join(lines[:60]) + "\n"


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
