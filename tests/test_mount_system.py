"""The mount as the system sees it: mount(8), fstab, signals, ownership and
permissions options, as users of other FUSE file systems expect them."""

import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import binary, need, unmount, wait_mounted

INSTALLED = "/usr/local/bin/ctfs"


@pytest.fixture
def model_dir(tmp_path, vectors):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(os.path.join(vectors, "cryptotensors", "v2-aes256-partial.safetensors"), src)
    (src / "config.json").write_text("{}\n")
    return src


def installed():
    need(os.access(INSTALLED, os.X_OK), "ctfs is not installed in /usr/local/bin (make install)")
    need(shutil.which("mount.fuse3") or os.path.exists("/sbin/mount.fuse3"), "mount.fuse3 missing")


def test_mount_type_fuse_ctfs(model_dir, keyring, tmp_path):
    installed()
    mp = tmp_path / "mnt"
    mp.mkdir()
    try:
        p = subprocess.run(["mount", "-t", "fuse.ctfs", str(model_dir), str(mp),
                            "-o", "keyring=%s,cache_size=8M" % keyring],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert wait_mounted(str(mp), None)
        assert sorted(os.listdir(mp)) == ["config.json", "v2-aes256-partial.safetensors"]
        with open("/proc/mounts") as f:
            line = [l for l in f if " %s " % mp in l][0]
        assert "fuse.ctfs" in line and str(model_dir) in line and " ro," in line
        p = subprocess.run(["umount", str(mp)], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert not os.path.ismount(mp)
    finally:
        unmount(str(mp))


def test_fstab_line(model_dir, keyring, tmp_path):
    installed()
    mp = tmp_path / "mnt"
    mp.mkdir()
    fstab = tmp_path / "fstab"
    fstab.write_text("# a model served by ctfs\n%s %s fuse.ctfs keyring=%s,allow_other,noauto 0 0\n"
                     % (model_dir, mp, keyring))
    try:
        p = subprocess.run(["mount", "-T", str(fstab), str(mp)], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert wait_mounted(str(mp), None)
        assert (mp / "config.json").read_text() == "{}\n"
    finally:
        unmount(str(mp))


def test_sigterm_unmounts_cleanly(model_dir, keyring, tmp_path):
    mp = tmp_path / "mnt"
    mp.mkdir()
    proc = subprocess.Popen([binary("ctfs"), str(model_dir), str(mp), "-f",
                             "-o", "keyring=" + keyring], stderr=subprocess.PIPE)
    try:
        assert wait_mounted(str(mp), proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not os.path.ismount(mp)
    finally:
        unmount(str(mp), proc)


def test_fusermount_unmount_ends_daemon(model_dir, keyring, mount):
    m = mount(model_dir, keyring)
    subprocess.run(["fusermount3", "-u", m.path], check=True, timeout=30)
    assert m.proc.wait(timeout=10) == 0
    assert "unmounting" in m.log()


def _as_nobody(*argv):
    return subprocess.run(list(argv), user=65534, group=65534, capture_output=True, timeout=30)


def test_other_users_need_allow_other(model_dir, keyring, public_dir, mount):
    mp = os.path.join(public_dir, "mnt")
    os.mkdir(mp)
    exe = binary("ctfs")
    proc = subprocess.Popen([exe, str(model_dir), mp, "-f", "-o", "keyring=" + keyring],
                            stderr=subprocess.DEVNULL)
    try:
        assert wait_mounted(mp, proc)
        assert _as_nobody("cat", os.path.join(mp, "config.json")).returncode != 0
    finally:
        unmount(mp, proc)
    proc = subprocess.Popen([exe, str(model_dir), mp, "-f", "-o",
                             "keyring=%s,allow_other" % keyring], stderr=subprocess.DEVNULL)
    try:
        assert wait_mounted(mp, proc)
        p = _as_nobody("cat", os.path.join(mp, "config.json"))
        assert p.returncode == 0 and p.stdout == b"{}\n"
    finally:
        unmount(mp, proc)


def test_uid_gid_umask(model_dir, keyring, public_dir):
    mp = os.path.join(public_dir, "mnt")
    os.mkdir(mp)
    proc = subprocess.Popen([binary("ctfs"), str(model_dir), mp, "-f", "-o",
                             "keyring=%s,allow_other,uid=65534,gid=65534,umask=0227" % keyring],
                            stderr=subprocess.DEVNULL)
    try:
        assert wait_mounted(mp, proc)
        st = os.stat(os.path.join(mp, "config.json"))
        assert (st.st_uid, st.st_gid) == (65534, 65534)
        assert st.st_mode & 0o777 == 0o550     # 0777 & ~umask, as in other FUSE file systems
        # owner (nobody) may read; the mode keeps everyone else out
        assert _as_nobody("cat", os.path.join(mp, "config.json")).returncode == 0
        p = subprocess.run(["cat", os.path.join(mp, "config.json")], user=1, group=1,
                           capture_output=True, timeout=30)
        assert p.returncode != 0
    finally:
        unmount(mp, proc)
