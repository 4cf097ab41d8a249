"""Key release through the mount (issue 11): a ctfs mount with keyserver=...
and no master key in its keyring fetches it from a real ctfs-keyd through
request_key(2) and request-key(8) at open."""

import concurrent.futures
import errno
import json
import os
import subprocess
import time

import pytest

import keyd_env
from conftest import binary, need
from keyd_env import SoftHSM, bed, proc_key_line, request_key_conf  # noqa: F401


def key_serial(keyring, kid):
    p = subprocess.run(["keyctl", "search", keyring, "user", "ctfs:" + kid],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


class Fleet:
    """Models of one kid in a SOURCE directory, the signer in the keyring."""

    def __init__(self, bed, tool, keyring, nonce, n_files=1, suffix="a", policy=None,
                 metadata=None):
        self.kid = nonce + "-" + suffix
        keys, self.enc = bed.models.keyset(self.kid)
        self.src = bed.tmp / ("src-" + suffix)
        self.src.mkdir()
        self.plain = {}
        for i in range(n_files):
            model, data = bed.models.model("%s%d" % (suffix, i), keys, n=8192 + i,
                                           policy_remote=policy, metadata=metadata)
            os.rename(model, self.src / ("m%d.cryptotensors" % i))
            self.plain["m%d.safetensors" % i] = data
        tool("key", "add", "--keyring", keyring, bed.models.sign_pub(self.kid))


def opts(k, cert, audit=None):
    o = ["keyserver=" + k.url, "client_cert=" + cert[0], "client_key=" + cert[1],
         "keyserver_ca=" + k.pki.ca, "fleet=f1"]
    if audit:
        o.append("key_audit=" + audit)
    return o


def tensor_bytes(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        f.seek(8 + n)
        return f.read()


def test_open_fetches_the_key_once(bed, tool, keyring, mount, request_key_conf, capsys):
    fl = Fleet(bed, tool, keyring, request_key_conf)
    k = bed.start("--lifetime", "60")
    audit = str(bed.tmp / "machine-audit.jsonl")
    m = mount(fl.src, keyring, opts(k, bed.m1, audit))
    assert key_serial(keyring, fl.kid) is None
    path = m.file("m0.safetensors")
    t0 = time.monotonic()
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        raise AssertionError(m.log())
    first = os.read(fd, 1)
    cold = time.monotonic() - t0
    os.close(fd)
    assert first
    assert tensor_bytes(path) == fl.plain["m0.safetensors"]
    serial = key_serial(keyring, fl.kid)
    assert serial and proc_key_line(serial).split()[3] in ("59s", "1m"), proc_key_line(serial)
    # warm: the key is in the keyring, no new request
    t0 = time.monotonic()
    with open(path, "rb") as f:
        f.read(1)
    warm = time.monotonic() - t0
    recs = k.records()
    assert [r["code"] for r in recs] == ["released"]
    assert recs[0]["enc_kid"] == fl.kid and recs[0]["client"]["subject"] == "CN=m1,O=acme"
    assert recs[0]["fleet"] == "f1"
    (c,) = [json.loads(line) for line in open(audit)]
    assert c["decision"] == "allow" and c["enc_kid"] == fl.kid and c["lifetime"] == 60
    assert c["file"].endswith("/m0.cryptotensors")
    # more cold opens for the figure: the key unlinked before each
    colds = [cold]
    for _ in range(4):
        subprocess.run(["keyctl", "unlink", key_serial(keyring, fl.kid), keyring], check=True)
        t0 = time.monotonic()
        with open(path, "rb") as f:
            assert f.read(1) == first
        colds.append(time.monotonic() - t0)
    assert len(k.records()) == 5
    colds.sort()
    with capsys.disabled():
        print("\n# open-to-first-byte: cold key median %.1f ms (min %.1f, max %.1f; one release "
              "on loopback), warm %.2f ms (load average %.1f)" % (
                  colds[2] * 1000, colds[0] * 1000, colds[-1] * 1000, warm * 1000,
                  os.getloadavg()[0]))


def test_without_keyserver_nothing_is_asked(bed, tool, keyring, mount, request_key_conf):
    fl = Fleet(bed, tool, keyring, request_key_conf)
    k = bed.start()
    m = mount(fl.src, keyring)
    with pytest.raises(OSError) as e:
        open(m.file("m0.safetensors"), "rb").close()
    assert e.value.errno == errno.ENOKEY
    assert k.records() == [] and key_serial(keyring, fl.kid) is None


def test_refused_machine_is_negative_cached(bed, tool, keyring, mount, request_key_conf):
    fl = Fleet(bed, tool, keyring, request_key_conf)
    k = bed.start()
    k.set_revoked({"machines": {"subjects": ["CN=m2,O=acme"]}})
    k.hup()
    m = mount(fl.src, keyring, opts(k, bed.m2))
    for _ in range(3):
        with pytest.raises(OSError) as e:
            open(m.file("m0.safetensors"), "rb").close()
        assert e.value.errno == errno.EACCES
    assert [r["code"] for r in k.records()] == ["revoked_machine"]
    assert fl.kid in m.log() and "m0.cryptotensors" in m.log()


def test_service_down_fails_cleanly(bed, tool, keyring, mount, request_key_conf):
    fl = Fleet(bed, tool, keyring, request_key_conf)
    k = bed.start()
    k.stop()
    m = mount(fl.src, keyring, opts(k, bed.m1))
    with pytest.raises(OSError) as e:
        open(m.file("m0.safetensors"), "rb").close()
    assert e.value.errno == errno.ENOKEY
    assert "m0.cryptotensors" in m.log() and fl.kid in m.log()
    p = subprocess.run(["keyctl", "rlist", keyring], capture_output=True, text=True)
    for serial in p.stdout.split():
        d = subprocess.run(["keyctl", "rdescribe", serial], capture_output=True, text=True)
        if d.stdout.strip().endswith(";ctfs:" + fl.kid):
            assert subprocess.run(["keyctl", "pipe", serial], capture_output=True).returncode != 0


def test_concurrent_opens_one_request(bed, tool, keyring, mount, request_key_conf):
    fl = Fleet(bed, tool, keyring, request_key_conf, n_files=5)
    k = bed.start()
    m = mount(fl.src, keyring, opts(k, bed.m1))

    def one(i):
        name = "m%d.safetensors" % (i % 5)
        return tensor_bytes(m.file(name)) == fl.plain[name]
    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        assert all(ex.map(one, range(50)))
    assert [r["code"] for r in k.records()] == ["released"]


def test_revoked_machine_loses_access_within_lifetime(bed, tool, keyring, mount,
                                                      request_key_conf):
    fl = Fleet(bed, tool, keyring, request_key_conf)
    k = bed.start("--lifetime", "2")
    m = mount(fl.src, keyring, opts(k, bed.m1))
    path = m.file("m0.safetensors")
    held = open(path, "rb")
    k.set_revoked({"machines": {"serials": [bed.pki.serial_of(bed.m1[0])]}})
    k.hup()
    time.sleep(2.5)
    with pytest.raises(OSError) as e:
        open(path, "rb").close()
    assert e.value.errno == errno.EACCES
    # a handle open before keeps reading
    assert held.read(8)
    held.close()
    assert [r["code"] for r in k.records()] == ["released", "revoked_machine"]


def test_model_revoked_by_kid(bed, tool, keyring, mount, request_key_conf):
    fl = Fleet(bed, tool, keyring, request_key_conf)
    k = bed.start()
    k.set_revoked({"models": {"kids": [fl.kid]}})
    k.hup()
    m = mount(fl.src, keyring, opts(k, bed.m1))
    with pytest.raises(OSError) as e:
        open(m.file("m0.safetensors"), "rb").close()
    assert e.value.errno == errno.EACCES
    assert [r["code"] for r in k.records()] == ["revoked_model"]


def test_open_with_keys_in_a_pkcs11_token(bed, tool, keyring, mount, request_key_conf):
    """The same open, the service's keys in a real SoftHSM2 token."""
    need(os.path.exists(keyd_env.SOFTHSM_MODULE), "SoftHSM2 (package softhsm2) missing")
    fl = Fleet(bed, tool, keyring, request_key_conf)
    hsm = SoftHSM(str(bed.tmp / "hsm"))
    keyset = os.path.join(bed.models.d, fl.kid + ".keys.json")
    subprocess.run([binary("ctfs-keyd"), *hsm.args(), "--import", keyset], check=True,
                   capture_output=True, env=hsm.env)
    k = bed.start(*hsm.args(), env=hsm.env, name="svc")
    m = mount(fl.src, keyring, opts(k, bed.m1))
    assert tensor_bytes(m.file("m0.safetensors")) == fl.plain["m0.safetensors"]
    assert key_serial(keyring, fl.kid)
    assert [r["code"] for r in k.records()] == ["released"]


def test_machine_not_allowed_by_remote_policy(bed, tool, keyring, mount, request_key_conf):
    from test_keyd import ENTITLED
    fl = Fleet(bed, tool, keyring, request_key_conf, policy=ENTITLED,
               metadata={"license": "acme-2026"})
    k = bed.start()
    with open(k.data, "w") as f:
        json.dump({"fleets": {"f1": {"machines": ["CN=m1,O=acme"]}}}, f)
    k.hup()
    m2 = mount(fl.src, keyring, opts(k, bed.m2))
    with pytest.raises(OSError) as e:
        open(m2.file("m0.safetensors"), "rb").close()
    assert e.value.errno == errno.EACCES
    assert key_serial(keyring, fl.kid) in (None, "")
    # the entitled machine (its own mount and keyring would be another host)
    subprocess.run(["keyctl", "clear", keyring], check=True)
    tool("key", "add", "--keyring", keyring, bed.models.sign_pub(fl.kid))
    m1 = mount(fl.src, keyring, opts(k, bed.m1))
    assert tensor_bytes(m1.file("m0.safetensors")) == fl.plain["m0.safetensors"]
    assert [r["code"] for r in k.records()] == ["policy", "released"]
