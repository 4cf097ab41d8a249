"""Access policies evaluated at every open through a real mount (issue 10):
the file's own local policy and the operator's site policy, with input
about the opening process, host and file, data from policy_data, and an
audit record for every decision."""
import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time

import pytest

import ct_forge
from conftest import binary, need, unmount, wait_mounted

NAME = "v2-aes256-partial.safetensors"
OTHER = "v1-chacha.cryptotensors"
PY = os.path.realpath("/usr/bin/python3")
COMM = os.path.basename(PY)[:15]      # what /proc/PID/comm says of it
NOBODY = 65534


@pytest.fixture
def setup(tmp_path, public_dir, vectors, tool, keyring):
    """A public SOURCE with two vector files and their keys in the keyring;
    yields policy(text) to set NAME's local policy, and mount(*opts)."""
    need(os.geteuid() == 0, "the policy mount tests run as root")
    src, mnt = os.path.join(public_dir, "src"), os.path.join(public_dir, "mnt")
    os.mkdir(src)
    os.mkdir(mnt)
    for n in (NAME, OTHER):
        shutil.copy(os.path.join(vectors, "cryptotensors", n), os.path.join(src, n))
    for k in ("keys-aes256.json", "keys-chacha.json"):
        tool("key", "add", "--keyring", keyring, os.path.join(vectors, "cryptotensors", k))
    keys = os.path.join(vectors, "cryptotensors", "keys-aes256.json")
    procs = []

    def policy(text):
        ct_forge.mutate_meta(os.path.join(src, NAME), os.path.join(src, NAME), keys,
                             "__policy__", lambda p: dict(p, local=text))

    def mount(*opts):
        log = tmp_path / ("ctfs%d.log" % len(procs))
        argv = [binary("ctfs"), src, mnt, "-f", "-o",
                ",".join(["allow_other", "keyring=" + keyring] + list(opts))]
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        procs.append(p)
        assert wait_mounted(mnt, p), open(log).read()
        return mnt, lambda: open(log).read()

    yield policy, mount, tmp_path
    for p in procs:
        unmount(mnt, p)


def read_as(path, argv0="python", user=None):
    """Read path with python3 or cat, as root or another user; errno or 0."""
    if argv0 == "cat":
        p = subprocess.run(["cat", path], capture_output=True, user=user, group=user)
        return 0 if p.returncode == 0 else (
            errno.EACCES if b"Permission denied" in p.stderr else errno.EIO)
    code = ("import sys\ntry:\n open(sys.argv[1],'rb').read()\n print(0)\n"
            "except OSError as e:\n print(e.errno)")
    p = subprocess.run([PY, "-c", code, path], capture_output=True, text=True, user=user,
                       group=user)
    return int(p.stdout.strip())


def test_uid_rule(setup):
    policy, mount, _ = setup
    policy("package model\nimport rego.v1\ndefault allow := false\n"
           "allow if input.process.uid == 0\n")
    mnt, log = mount()
    os.chmod(os.path.join(os.path.dirname(mnt), "src", NAME), 0o644)
    assert read_as(os.path.join(mnt, NAME)) == 0
    assert read_as(os.path.join(mnt, NAME), user=NOBODY) == errno.EACCES
    assert "local policy denies" in log()


def test_exe_rule(setup):
    policy, mount, _ = setup
    policy("package model\nimport rego.v1\ndefault allow := false\n"
           "allow if input.process.exe == %s\n" % json.dumps(PY))
    mnt, log = mount()
    assert read_as(os.path.join(mnt, NAME)) == 0
    assert read_as(os.path.join(mnt, NAME), "cat") == errno.EACCES


def test_expired_time_window(setup):
    policy, mount, _ = setup
    past = (int(time.time()) - 3600) * 10**9
    policy("package model\nimport rego.v1\ndefault allow := false\n"
           "allow if time.now_ns() < %d\n" % past)
    mnt, log = mount()
    assert read_as(os.path.join(mnt, NAME)) == errno.EACCES
    assert "local policy denies" in log()


def test_site_policy_denies_what_the_file_allows(setup):
    policy, mount, tmp = setup
    policy("package model\nallow := true\n")
    site = tmp / "site.rego"
    site.write_text("package model\nimport rego.v1\ndefault allow := false\n"
                    "allow if input.file.path != \"/%s\"\n" % NAME)
    mnt, log = mount("policy=" + str(site))
    assert read_as(os.path.join(mnt, NAME)) == errno.EACCES
    assert "site policy denies" in log()
    assert read_as(os.path.join(mnt, OTHER.replace(".cryptotensors", ".safetensors"))) == 0


def test_policy_data_allowlist(setup):
    policy, mount, tmp = setup
    policy("package model\nimport rego.v1\ndefault allow := false\n"
           "allow if input.process.comm in data.allowed_comms\n")
    data = tmp / "data.json"
    data.write_text(json.dumps({"allowed_comms": [COMM]}))
    mnt, _ = mount("policy_data=" + str(data))
    assert read_as(os.path.join(mnt, NAME)) == 0
    assert read_as(os.path.join(mnt, NAME), "cat") == errno.EACCES


@pytest.mark.parametrize("text,why", [
    ("package model\nallow = ", "does not compile"),
    ("package model\nallow { true }\n", "does not compile"),
    ("package model\nallow := true\n# " + "x" * (70 << 10) + "\n", "does not compile"),
    ("package model\nimport rego.v1\nxs := numbers.range(1, 400)\n"
     "allow if count({[a, b, c] | some a in xs; some b in xs; some c in xs}) > 0\n",
     "local policy denies"),
    ("package model\nallow := \"yes\"\n", "local policy denies"),
])
def test_bad_policies_are_denied_with_a_reason(setup, text, why):
    policy, mount, _ = setup
    policy(text)
    mnt, log = mount()
    assert read_as(os.path.join(mnt, NAME)) == errno.EACCES
    assert why in log(), log()


def test_audit_records(setup):
    policy, mount, tmp = setup
    text = ("package model\nimport rego.v1\ndefault allow := false\n"
            "allow if input.process.comm == %s\n" % json.dumps(COMM))
    policy(text)
    audit = tmp / "audit.jsonl"
    mnt, _ = mount("audit=" + str(audit))
    assert read_as(os.path.join(mnt, NAME)) == 0
    assert read_as(os.path.join(mnt, NAME), "cat") == errno.EACCES
    assert stat.S_IMODE(os.stat(audit).st_mode) == 0o600
    recs = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["decision"] for r in recs] == ["allow", "deny"], recs
    want_hash = hashlib.sha256(text.encode()).hexdigest()
    for r, exe in zip(recs, (PY, os.path.realpath(shutil.which("cat")))):
        assert r["file"] == "/" + NAME
        assert r["enc_kid"] and r["sign_kid"]
        assert r["policy_hash"] == want_hash
        assert r["uid"] == 0 and r["gid"] == 0 and r["pid"] > 0
        assert r["exe"] == exe
        assert abs(r["time"] - time.time()) < 120
    assert recs[0]["reason"] == "allowed"
    assert "local policy denies" in recs[1]["reason"]
