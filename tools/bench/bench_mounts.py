"""Foreground FUSE daemons (ctfs, gocryptfs) as context managers that always
unmount, plus the private keyring the ctfs mounts read their keys from."""

import os
import subprocess
import time

_live = []   # mounts not yet unmounted, for the last-resort cleanup


class MountError(RuntimeError):
    pass


def _wait_mounted(path, proc, log, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.ismount(path):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    raise MountError("mount of %s failed: %s" % (path, _tail(log)))


def _tail(log):
    try:
        with open(log, errors="replace") as f:
            return f.read()[-2000:]
    except OSError:
        return "(no log)"


def _unmount(path, proc):
    if os.path.ismount(path):
        subprocess.run(["fusermount3", "-u", path], capture_output=True)
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", path], capture_output=True)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def unmount_all():
    """Last resort (atexit, signals): nothing stays mounted."""
    while _live:
        m = _live.pop()
        _unmount(m.path, m.proc)


def status(pid):
    """{field: kB} of the memory lines of /proc/PID/status, and Locked from
    /proc/PID/smaps_rollup."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.startswith("Vm") or k.startswith("Rss"):
                    out[k] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    # Locked pages that are resident. VmLck above is the size of the locked
    # mappings, and a daemon under mlockall(MCL_ONFAULT) has all of its
    # mappings locked, touched or not.
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Locked:"):
                    out["Locked"] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return out


class _Daemon:
    def __init__(self, argv, path, log):
        self.path = path
        self.log = log
        self.argv = argv
        self.proc = None
        self.peak_kib = None
        self.final = {}      # the memory lines of /proc/PID/status just before unmount

    def __enter__(self):
        os.makedirs(self.path, exist_ok=True)
        with open(self.log, "a") as lf:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=lf)
        _live.append(self)
        try:
            _wait_mounted(self.path, self.proc, self.log)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @property
    def pid(self):
        return self.proc.pid

    def memory(self):
        return status(self.proc.pid)

    def __exit__(self, *exc):
        if self.proc is None:
            return False
        self.final = self.memory()
        self.peak_kib = self.final.get("VmHWM")
        if self in _live:
            _live.remove(self)
        _unmount(self.path, self.proc)
        return False


def ctfs(exe, source, mnt, keyring, cache_size, extra_opts, log):
    opts = ["keyring=%s" % keyring, "cache_size=%s" % cache_size]
    if extra_opts:
        opts.append(extra_opts)
    return _Daemon([exe, source, mnt, "-f", "-o", ",".join(opts)], mnt, log)


def gocryptfs(cipher, mnt, passfile, log):
    return _Daemon(["gocryptfs", "-fg", "-quiet", "-passfile", passfile, cipher, mnt],
                   mnt, log)


def gocryptfs_init(cipher, passfile):
    os.makedirs(cipher, exist_ok=True)
    # a cheap scrypt cost: it changes the mount time, not the data path
    p = subprocess.run(["gocryptfs", "-init", "-quiet", "-scryptn", "10",
                        "-passfile", passfile, cipher], capture_output=True, text=True)
    if p.returncode:
        raise MountError("gocryptfs -init failed: " + p.stderr)


def new_keyring(name):
    """A keyring of the bench's own under the session keyring, its serial."""
    p = subprocess.run(["keyctl", "newring", name, "@s"], capture_output=True, text=True)
    if p.returncode:
        raise MountError("keyctl newring failed: " + p.stderr)
    return p.stdout.strip()


def drop_keyring(serial):
    subprocess.run(["keyctl", "clear", serial], capture_output=True)
    subprocess.run(["keyctl", "unlink", serial, "@s"], capture_output=True)
