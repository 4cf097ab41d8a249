"""Fixtures shared by the integration tests: binaries, vectors, a private
keyring per test, and real FUSE mounts that are always unmounted.

Also reports every test as a TAP line at the end, so that automake's TAP
driver counts pytest cases one by one (tests/integration.sh)."""

import os
import shutil
import signal
import subprocess
import tempfile
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.environ.get("CTFS_BUILDDIR", REPO)
VECTORS = os.environ.get("CTFS_VECTORS", os.path.join(REPO, "tests", "vectors"))
IN_CI = bool(os.environ.get("CI"))

sys.path.insert(0, HERE)

import ctfs_seed  # noqa: E402 (needs HERE on the path)


def _seed_line():
    return "ctfs seed: %d (replay with CTFS_SEED=%d)" % (ctfs_seed.SEED, ctfs_seed.SEED)


def pytest_report_header(config):
    return _seed_line()


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(_seed_line())   # also under -q


def need(cond, why):
    """Skip on a developer machine that lacks something; fail in CI."""
    if not cond:
        if IN_CI:
            pytest.fail("required in CI: " + why)
        pytest.skip(why)


def binary(name):
    path = os.path.join(BUILD, name)
    need(os.access(path, os.X_OK), "%s is not built" % path)
    return path


@pytest.fixture
def vectors():
    need(os.path.isdir(VECTORS), "test vectors not found at " + VECTORS)
    return os.path.abspath(VECTORS)


@pytest.fixture
def tool():
    exe = binary("ctfs-tool")

    def run(*args, check=True, input=None, keyring=None):
        argv = [exe] + [str(a) for a in args]
        p = subprocess.run(argv, input=input, capture_output=True, timeout=300)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (
                " ".join(argv), p.returncode, p.stderr.decode(errors="replace")))
        return p
    return run


@pytest.fixture
def keyring():
    """A keyring of this test's own, linked under the session keyring that
    tests/integration.sh created for the whole run."""
    need(shutil.which("keyctl") is not None, "keyctl (package keyutils) missing")
    name = "ctfs-test-%d-%d" % (os.getpid(), time.monotonic_ns())
    p = subprocess.run(["keyctl", "newring", name, "@s"], capture_output=True, text=True)
    need(p.returncode == 0, "cannot create a keyring: " + p.stderr)
    serial = p.stdout.strip()
    yield serial
    subprocess.run(["keyctl", "clear", serial], capture_output=True)
    subprocess.run(["keyctl", "unlink", serial, "@s"], capture_output=True)


@pytest.fixture
def public_dir():
    """A directory other users can reach (pytest's tmp_path is 0700)."""
    d = tempfile.mkdtemp(prefix="ctfs-test-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    unmount(os.path.join(d, "mnt"))
    shutil.rmtree(d, ignore_errors=True)


class Mount:
    def __init__(self, path, proc, log):
        self.path = path
        self.proc = proc
        self.logfile = log

    def log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def file(self, name):
        return os.path.join(self.path, name)


def wait_mounted(path, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.ismount(path):
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def unmount(path, proc=None):
    if os.path.ismount(path):
        subprocess.run(["fusermount3", "-u", path], capture_output=True)
        if os.path.ismount(path):
            subprocess.run(["umount", "-l", path], capture_output=True)
    if proc is not None:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def mount(tmp_path):
    """mount(src, keyring, *opts) -> Mount, a foreground daemon on a fresh
    mount point, unmounted when the test ends whatever happened."""
    need(os.path.exists("/dev/fuse"), "/dev/fuse missing")
    need(os.geteuid() == 0, "mounting tests run as root")
    exe = binary("ctfs")
    mounts = []

    def do_mount(src, keyring=None, opts=(), expect_ok=True):
        mp = tmp_path / ("mnt%d" % len(mounts))
        mp.mkdir()
        log = tmp_path / ("ctfs%d.log" % len(mounts))
        o = list(opts)
        if keyring:
            o.append("keyring=" + keyring)
        argv = [exe, str(src), str(mp), "-f"] + (["-o", ",".join(o)] if o else [])
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        m = Mount(str(mp), proc, str(log))
        mounts.append(m)
        ok = wait_mounted(str(mp), proc)
        if expect_ok:
            assert ok, "mount failed: " + m.log()
        return m

    yield do_mount
    for m in mounts:
        unmount(m.path, m.proc)


# --- TAP report -------------------------------------------------------------

_results = []


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        if report.when != "call" and any(r[0] == report.nodeid for r in _results):
            return
        _results.append((report.nodeid, report.outcome, report.longreprtext[-300:]
                         if report.outcome == "failed" else ""))


def pytest_sessionfinish(session, exitstatus):
    if not os.environ.get("CTFS_TAP"):
        return
    out = sys.__stdout__
    out.write("\n")    # pytest's progress line has no newline of its own
    for i, (name, outcome, why) in enumerate(_results, 1):
        if outcome == "passed":
            out.write("ok %d - %s\n" % (i, name))
        elif outcome == "skipped":
            out.write("ok %d - %s # SKIP\n" % (i, name))
        else:
            out.write("not ok %d - %s\n" % (i, name))
            for line in why.splitlines():
                out.write("# %s\n" % line)
    out.write("1..%d\n" % len(_results))
    out.flush()
