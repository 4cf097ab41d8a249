"""Attacks on the mount by a local user (issue 9), replayed through a real
mount: the daemon runs as root with allow_other, the attacker is nobody
(uid 65534) with write access to one directory inside SOURCE. The
deterministic versions of the races (a swap between lookup and open) are in
tests/test_view.c; here each race also runs for real, for a bounded time."""
import os
import subprocess
import time

import pytest

from conftest import binary, need, unmount, wait_mounted

NOBODY = 65534
RACE_SECONDS = 6

# renameat2(RENAME_EXCHANGE) in a loop, as the attacker
SWAPPER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b, seconds = sys.argv[1].encode(), sys.argv[2].encode(), float(sys.argv[3])
end, n = time.monotonic() + seconds, 0
while time.monotonic() < end:
    libc.renameat2(-100, a, -100, b, 2)
    n += 1
print(n)
"""

# read a path over and over, as the attacker; prints what it saw. Opens
# are non-blocking: the kernel itself would block a reader that opens the
# path while it is a FIFO, waiting for a writer (that is the client's FIFO,
# not the daemon).
READER = r"""
import os, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
end, seen = time.monotonic() + seconds, set()
while time.monotonic() < end:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            seen.add(os.read(fd, 64))
        finally:
            os.close(fd)
    except OSError as e:
        seen.add(("error", e.errno))
print(repr(sorted(seen, key=repr)))
"""


@pytest.fixture
def attack_setup(public_dir, tmp_path, keyring):
    """SOURCE with pub/ writable by nobody, a root-only secret outside it,
    mounted with allow_other. Yields (source, mountpoint, secret dir)."""
    need(os.geteuid() == 0, "the attack tests run the daemon as root")
    src = os.path.join(public_dir, "src")
    mnt = os.path.join(public_dir, "mnt")
    secret = tmp_path / "secret"           # 0700 root, outside SOURCE
    secret.mkdir(mode=0o700)
    (secret / "file").write_bytes(b"ROOT-ONLY SECRET\n")
    os.makedirs(os.path.join(src, "pub", "d"))
    with open(os.path.join(src, "pub", "d", "file"), "wb") as f:
        f.write(b"public\n")
    with open(os.path.join(src, "pub", "other"), "wb") as f:
        f.write(b"other\n")
    for p in ("pub", "pub/d"):
        os.chown(os.path.join(src, p), NOBODY, NOBODY)
    os.mkdir(mnt)
    log = open(tmp_path / "ctfs.log", "w")
    proc = subprocess.Popen([binary("ctfs"), src, mnt, "-f", "-o",
                             "allow_other,keyring=" + keyring],
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        assert wait_mounted(mnt, proc), open(tmp_path / "ctfs.log").read()
        yield src, mnt, secret
    finally:
        unmount(mnt, proc)
        log.close()


@pytest.fixture
def as_nobody():
    """as_nobody(script, *args) -> Popen of /usr/bin/python3 -c script as
    nobody; every process still running at the end of the test is killed."""
    procs = []

    def start(*argv):
        p = subprocess.Popen(["/usr/bin/python3", "-c"] + list(argv), user=NOBODY,
                             group=NOBODY, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        return p
    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_middle_component_swapped_for_symlink(attack_setup, as_nobody):
    """Finding 1: pub/d swapped with a symlink to a root-only directory while
    nobody reads MNT/pub/d/file: never the secret, only the public file or
    an error (EACCES when the kernel follows the symlink as nobody; EIO when it
    sees a directory turn into a symlink under one inode)."""
    src, mnt, secret = attack_setup
    os.symlink(str(secret), os.path.join(src, "pub", "s"))
    os.lchown(os.path.join(src, "pub", "s"), NOBODY, NOBODY)
    swapper = as_nobody(SWAPPER, os.path.join(src, "pub", "d"), os.path.join(src, "pub", "s"),
                        str(RACE_SECONDS))
    reader = as_nobody(READER, os.path.join(mnt, "pub", "d", "file"), str(RACE_SECONDS))
    seen, _ = reader.communicate(timeout=RACE_SECONDS + 60)
    swaps, _ = swapper.communicate(timeout=RACE_SECONDS + 60)
    print("swaps: %s, seen: %s" % (swaps.strip(), seen.strip()))
    assert int(swaps) > 100
    assert "SECRET" not in seen
    # the daemon still serves the same user (the raced names themselves may
    # stay kernel "bad inodes" for a while: they saw one inode change type)
    p = subprocess.run(["cat", os.path.join(mnt, "pub", "other")], user=NOBODY,
                       group=NOBODY, capture_output=True, timeout=60)
    assert p.stdout == b"other\n", p


def test_package_swapped_for_symlink(attack_setup):
    """Finding 2: a symlink put where a package was is never followed: the
    mount shows it as the symlink it is, and nothing below X/ opens."""
    src, mnt, secret = attack_setup
    (secret / "trusted.tgsp").write_bytes(b"TGSP\x01\x00" + b"\0" * 64)
    link = os.path.join(src, "pub", "pkg.tgsp")
    os.symlink(str(secret / "trusted.tgsp"), link)
    assert "pkg.tgsp" in os.listdir(os.path.join(mnt, "pub"))
    assert os.path.islink(os.path.join(mnt, "pub", "pkg.tgsp"))
    assert not os.path.exists(os.path.join(mnt, "pub", "pkg"))


def test_fifo_swapped_in_does_not_hang_the_mount(attack_setup, as_nobody):
    """Finding 3: a FIFO swapped with a model file while it is opened must not
    block the daemon: stat keeps answering during the race, and other files
    read after it."""
    src, mnt, _ = attack_setup
    d = os.path.join(src, "pub", "d")
    os.mkfifo(os.path.join(d, "fifo"))
    os.chown(os.path.join(d, "fifo"), NOBODY, NOBODY)
    swapper = as_nobody(SWAPPER, os.path.join(d, "file"), os.path.join(d, "fifo"),
                        str(RACE_SECONDS))
    reader = as_nobody(READER, os.path.join(mnt, "pub", "d", "file"), str(RACE_SECONDS))
    worst = 0.0
    end = time.monotonic() + RACE_SECONDS
    while time.monotonic() < end:
        t0 = time.monotonic()
        os.stat(os.path.join(mnt, "pub"))
        worst = max(worst, time.monotonic() - t0)
        time.sleep(0.01)
    reader.communicate(timeout=RACE_SECONDS + 60)
    swaps, _ = swapper.communicate(timeout=RACE_SECONDS + 60)
    print("swaps: %s, slowest stat during the race: %.3f s" % (swaps.strip(), worst))
    assert worst < 10.0    # a daemon blocked on the FIFO never answers
    # the daemon still serves files (the raced name itself may stay an
    # EIO "bad inode" in the kernel for a while: it saw one inode change type)
    with open(os.path.join(mnt, "pub", "other"), "rb") as f:
        assert f.read() == b"other\n"
