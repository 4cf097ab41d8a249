"""Trust lifecycle through real mounts (issue 12): signer certificate chains
validated to a CA made here with openssl, CRLs, the local revocation list
reloaded on SIGHUP, anti-rollback, signed digests of plaintext tensors, and
ctfs-tool sign / verify / rollback. Every file is also read by the
independent reader (ct_reference) to show upstream still loads it."""

import base64
import errno
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import need
import ct_reference as ref

CHUNK = 65536
PLAIN_LEN = 5 * CHUNK + 123      # plaintext tensor: 6 chunks
ENC_LEN = 3 * CHUNK


def write_safetensors(path, tensors):
    hdr, off = {}, 0
    for name, raw in tensors:
        hdr[name] = {"dtype": "U8", "shape": [len(raw)], "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    text = json.dumps(hdr, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(r for _, r in tensors))


def expect_errno(code, fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno == code, "expected %s, got %s" % (
        errno.errorcode[code], errno.errorcode.get(e.value.errno))


def hup(m, count):
    """SIGHUP the daemon and wait for its count-th reload."""
    m.proc.send_signal(signal.SIGHUP)
    for _ in range(200):
        if sum(l.endswith(" reloaded") for l in m.log().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no reload logged: " + m.log())


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Env:
    """A PKI, vendor keys, a plaintext model and helpers to make variants."""

    def __init__(self, tmp, tool, srcdir):
        need(shutil.which("openssl") is not None, "openssl command missing")
        self.tmp, self.tool = tmp, tool
        self.pki = tmp / "pki"
        subprocess.run(["sh", os.path.join(srcdir, "tests", "trust_chain.sh"), str(self.pki)],
                       check=True)
        self.keys = tmp / "keys.json"           # master + keygen's own signer
        tool("keygen", "--alg", "aes256gcm", "--kid", "va", "--out", self.keys)
        self.master = [k for k in ref.load_keys(str(self.keys)) if k["kty"] == "oct"][0]
        self.plain = tmp / "plain.safetensors"
        self.tensors = [("enc", bytes(range(256)) * (ENC_LEN // 256)),
                        ("plain", hashlib.sha256(b"seed").digest() * (PLAIN_LEN // 32) +
                         b"\x07" * (PLAIN_LEN % 32))]
        write_safetensors(self.plain, self.tensors)
        self.src = tmp / "src"
        self.src.mkdir()

    def leaf_set(self, leaf, with_master=True):
        """JWK set: the master key and the certificate leaf as signing key."""
        seed = (self.pki / (leaf + ".seed")).read_text().strip()
        pub = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed)).public_key()
        x = base64.b64encode(pub.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
        okp = {"kty": "okp", "alg": "ed25519", "kid": leaf + "-signer", "x": x, "d": seed}
        path = self.tmp / (leaf + ("-set.json" if with_master else "-only.json"))
        path.write_text(json.dumps({"keys": ([self.master] if with_master else []) + [okp]}))
        return path

    def chain_pem(self, leaf):
        path = self.tmp / (leaf + "-chain.pem")
        path.write_bytes((self.pki / (leaf + ".pem")).read_bytes() +
                         (self.pki / "int.pem").read_bytes())
        return path

    def encrypt(self, name, leaf=None, *extra):
        keys = self.leaf_set(leaf) if leaf else self.keys
        args = ["--x5c", self.chain_pem(leaf)] if leaf else []
        out = self.src / name
        self.tool("encrypt", self.plain, out, "--keys", keys, "--tensors", "enc",
                  "--chunk-size", str(CHUNK), *args, *extra)
        return out

    def add_master(self, keyring, leaf):
        """Only the master key in the keyring, bound to the leaf's key."""
        inp = json.dumps({"keys": [self.master]}).encode()
        self.tool("key", "add", "--keyring", keyring, "--signer",
                  self.leaf_set(leaf, with_master=False), "-", input=inp)

    def check_view(self, path):
        data = read(path)
        h, start = ref.read_header(data)
        for name, raw in self.tensors:
            b, e = h[name]["data_offsets"]
            assert data[start + b:start + e] == raw, name

    def reference_reads(self, path, leaf=None):
        keys = ref.load_keys(str(self.leaf_set(leaf) if leaf else self.keys))
        hdr, info, got = ref.decrypt_file(str(path), keys)
        assert {n: raw for n, (_, _, raw) in got.items()} == dict(self.tensors)
        return hdr


@pytest.fixture
def env(tmp_path, tool):
    return Env(tmp_path, tool, os.environ.get("CTFS_SRCDIR", os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))


def test_chain_opens_with_only_the_ca(env, keyring, mount, tool):
    f = env.encrypt("m.safetensors", "leaf")
    env.add_master(keyring, "leaf")
    listing = tool("key", "list", "--keyring", keyring).stdout.decode()
    assert "\tokp\t" not in listing, "no signing key in the keyring"
    m = mount(env.src, keyring, opts=["trust=" + str(env.pki / "anchors")])
    env.check_view(m.file("m.safetensors"))
    # without trust= the keyring behaviour is unchanged: no key, no open
    m2 = mount(env.src, keyring)
    expect_errno(errno.ENOKEY, read, m2.file("m.safetensors"))
    # upstream's reader ignores x5c and the digests entry
    hdr = env.reference_reads(f, "leaf")
    assert "ctfs.plain_sha256" in hdr["__metadata__"]
    assert "x5c" in json.loads(hdr["__metadata__"]["__crypto_keys__"])["sign"]


@pytest.mark.parametrize("leaf,anchors,opts,code,word", [
    ("leaf", "anchors-other", [], errno.EKEYREJECTED, "issuer"),
    ("expired", "anchors", [], errno.EKEYREJECTED, "expired"),
    ("revoked", "anchors-crl", [], errno.EKEYREVOKED, "revoked"),
    ("leaf", "anchors-partial", ["crl=require"], errno.EKEYREJECTED, "CRL"),
])
def test_chain_refusals(env, keyring, mount, leaf, anchors, opts, code, word):
    env.encrypt("m.safetensors", leaf)
    env.add_master(keyring, leaf)
    m = mount(env.src, keyring, opts=["trust=" + str(env.pki / anchors)] + opts)
    expect_errno(code, read, m.file("m.safetensors"))
    assert word in m.log() and "m.safetensors" in m.log()


def test_revocation_list_reloaded_on_sighup(env, keyring, mount, tool):
    env.encrypt("a.safetensors", "leaf")
    env.encrypt("b.safetensors", "leaf", "--model-id", "b", "--model-version", "1")
    env.add_master(keyring, "leaf")
    revoked = env.tmp / "revoked.json"
    revoked.write_text("{}")
    anchors = str(env.pki / "anchors")
    m = mount(env.src, keyring, opts=["trust=" + anchors, "revoked=" + str(revoked)])
    whole = read(m.file("a.safetensors"))
    out = tool("verify", "--keys", env.leaf_set("leaf"), "--trust", anchors, "--revoked",
               revoked, env.src / "b.safetensors").stdout.decode()
    assert "chain[2]" in out and "ctfs test root" in out and "not revoked" in out
    digest = [l.split()[-1] for l in out.splitlines() if "header digest" in l][0]
    with open(m.file("a.safetensors"), "rb") as held:
        # withdraw file b by its header digest, and the leaf by its serial
        serial = subprocess.run(
            ["openssl", "x509", "-in", env.pki / "leaf.pem", "-noout", "-serial"],
            capture_output=True, text=True, check=True).stdout.strip().split("=")[1]
        revoked.write_text(json.dumps({"header_digests": [digest]}))
        assert len(read(m.file("a.safetensors"))) == len(whole), "no reload before SIGHUP"
        hup(m, 1)
        expect_errno(errno.EKEYREVOKED, read, m.file("b.safetensors"))
        assert len(read(m.file("a.safetensors"))) == len(whole)
        revoked.write_text(json.dumps({"serials": [serial]}))
        hup(m, 2)
        expect_errno(errno.EKEYREVOKED, read, m.file("a.safetensors"))
        assert "revoked" in m.log() and m.proc.poll() is None, "SIGHUP did not end the mount"
        held.seek(0)
        assert held.read() == whole, "a handle opened before keeps reading"
    p = tool("verify", "--keys", env.leaf_set("leaf"), "--trust", anchors, "--revoked",
             revoked, env.src / "a.safetensors", check=False)
    assert p.returncode == 1 and b"revoked" in p.stderr


def test_revoked_kid_without_chain(env, keyring, mount, tool):
    env.encrypt("k.safetensors")
    tool("key", "add", "--keyring", keyring, env.keys)
    revoked = env.tmp / "revoked.json"
    revoked.write_text(json.dumps({"kids": ["va-sign"]}))
    m = mount(env.src, keyring, opts=["revoked=" + str(revoked)])
    expect_errno(errno.EKEYREVOKED, read, m.file("k.safetensors"))
    assert "va-sign" in m.log()


def test_rollback(env, keyring, mount, tool):
    tool("key", "add", "--keyring", keyring, env.keys)
    db = env.tmp / "state" / "rollback.db"
    db.parent.mkdir()
    v3 = env.encrypt("v3.safetensors", None, "--model-id", "llama", "--model-version", "3")
    v2 = env.encrypt("v2.safetensors", None, "--model-id", "llama", "--model-version", "2")
    m = mount(env.src, keyring, opts=["rollback_db=" + str(db)])
    env.check_view(m.file("v3.safetensors"))
    expect_errno(errno.EACCES, read, m.file("v2.safetensors"))
    assert "version 2" in m.log() and "version 3" in m.log()
    env.check_view(m.file("v3.safetensors"))
    # a second mount shares the store
    m2 = mount(env.src, keyring, opts=["rollback_db=" + str(db)])
    expect_errno(errno.EACCES, read, m2.file("v2.safetensors"))
    listing = tool("rollback", "list", "--db", db).stdout.decode()
    assert listing.count("\n") == 1 and "\t3\tllama" in listing
    tool("rollback", "forget", "--db", db, "llama")
    env.check_view(m.file("v2.safetensors"))
    assert "\t2\tllama" in tool("rollback", "list", "--db", db).stdout.decode()
    env.reference_reads(v2)
    env.reference_reads(v3)


def test_rollback_store_survives_kill_during_update(env, tmp_path, tool):
    """Processes raising the version are killed at seeded random moments; the
    store always parses and never goes below what was acknowledged."""
    exe = os.path.join(os.environ.get("CTFS_BUILDDIR", "."), "tests", "test_trust_rollback")
    need(os.path.exists(exe), "tests/test_trust_rollback not built")
    seed = os.environ.get("CTFS_SEED", "12345")
    print("seed", seed)
    p = subprocess.run([exe], capture_output=True, text=True, env=dict(os.environ,
                       CTFS_SEED=seed))
    assert p.returncode == 0, p.stdout


def test_tampered_plaintext_chunk(env, keyring, mount, tool):
    f = env.encrypt("d.safetensors")
    tool("key", "add", "--keyring", keyring, env.keys)
    hdr, start = ref.read_header(read(f))
    b, e = hdr["plain"]["data_offsets"]
    data = bytearray(read(f))
    data[start + b + 2 * CHUNK + 17] ^= 0x40          # chunk 2 of the plaintext tensor
    f.write_bytes(bytes(data))
    m = mount(env.src, keyring)
    path = m.file("d.safetensors")
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        base = 8 + n + json.loads(fh.read(n))["plain"]["data_offsets"][0]
    want = env.tensors[1][1]
    fd = os.open(path, os.O_RDONLY)
    try:
        # the tampered chunk first: kernel readahead from a good chunk would
        # reach into it and fail that read too
        expect_errno(errno.EIO, os.pread, fd, 10, base + 2 * CHUNK + 10)
        assert os.pread(fd, CHUNK, base) == want[:CHUNK]                       # chunk 0
        assert os.pread(fd, 1000, base + 5 * CHUNK) == want[5 * CHUNK:5 * CHUNK + 1000]
    finally:
        os.close(fd)
    assert "chunk 2" in m.log() and "digest" in m.log()
    p = tool("verify", "--keys", env.keys, f, check=False)
    assert p.returncode == 1 and b"chunk 2" in p.stderr


def test_require_digests(env, keyring, mount, tool, vectors):
    env.encrypt("with.safetensors")
    env.encrypt("without.safetensors", None, "--no-digests")
    tool("key", "add", "--keyring", keyring, env.keys)
    m = mount(env.src, keyring, opts=["require_digests"])
    env.check_view(m.file("with.safetensors"))
    expect_errno(errno.EBADMSG, read, m.file("without.safetensors"))
    assert "require_digests" in m.log()
    m2 = mount(env.src, keyring)
    env.check_view(m2.file("without.safetensors"))
    assert "without integrity check" in m2.log() and "without.safetensors" in m2.log()


def test_sign_with_new_signer_and_chain(env, keyring, mount, tool):
    f = env.encrypt("s.safetensors", None, "--model-id", "s", "--model-version", "7")
    before = read(f)
    tool("sign", "--old-keys", env.keys, "--keys", env.leaf_set("leaf", with_master=False),
         "--x5c", env.chain_pem("leaf"), f)
    after = read(f)
    (n0,) = struct.unpack("<Q", before[:8])
    (n1,) = struct.unpack("<Q", after[:8])
    assert before[8 + n0:] == after[8 + n1:], "data untouched"
    env.add_master(keyring, "leaf")
    m = mount(env.src, keyring, opts=["trust=" + str(env.pki / "anchors")])
    env.check_view(m.file("s.safetensors"))
    out = tool("verify", "--keys", env.leaf_set("leaf"), "--trust", env.pki / "anchors",
               f).stdout.decode()
    assert "certificate chain validated" in out and "model s version 7" in out
    assert "match their signed digests" in out
    env.reference_reads(f, "leaf")


def test_tgsp_rollback(tmp_path, tool, keyring, mount):
    """TGSP packages get the same check from their manifest's model_name and
    model_version."""
    keys = tmp_path / "tk"
    tool("tgsp", "keygen", "--type", "signing", "--out", keys)
    tool("tgsp", "keygen", "--type", "encryption", "--out", keys)
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"w" * 5000)
    src = tmp_path / "src"
    src.mkdir()
    for name, ver in [("new", "2.0.0"), ("old", "1.5.0"), ("odd", "2.0.0-rc1")]:
        tool("tgsp", "build", model, "--out", src / (name + ".tgsp"), "--signing-key",
             keys / "signing.priv", "--signing-pub", keys / "signing.pub", "--recipient",
             "rid=" + str(keys / "encryption.pub"), "--model-name", "m",
             "--model-version", ver)
    with open(keys / "encryption.priv", "rb") as f:
        subprocess.run(["keyctl", "padd", "user", "ctfs:tgsp:rid", keyring], stdin=f,
                       check=True, capture_output=True)
    db = tmp_path / "rollback.db"
    m = mount(src, keyring, opts=["tgsp_trust=" + str(keys / "signing.pub"),
                                  "rollback_db=" + str(db)])
    assert read(m.file("new/w.bin")) == b"w" * 5000
    expect_errno(errno.EACCES, read, m.file("old/w.bin"))
    assert "version 1.5.0 is older" in m.log()
    assert read(m.file("odd/w.bin")) == b"w" * 5000          # not orderable: not checked
    assert "cannot be ordered" in m.log()
    assert "\tm\n" in tool("rollback", "list", "--db", db).stdout.decode()


def test_binding_by_certificate_subject(env, keyring, mount, tool):
    """A master key bound to a certificate subject keeps accepting the signer
    after its key is renewed; other subjects of the same CA are refused."""
    env.encrypt("old.safetensors", "leaf")
    env.encrypt("renewed.safetensors", "renewed")
    env.encrypt("other.safetensors", "revoked")     # same CA, subject "vendor-a leaked signer"
    inp = json.dumps({"keys": [env.master]}).encode()
    out = tool("key", "add", "--keyring", keyring, "--signer-subject", "/CN=vendor-a signer",
               "-", input=inp).stdout.decode()
    assert "subject /CN=vendor-a signer" in out
    m = mount(env.src, keyring, opts=["trust=" + str(env.pki / "anchors")])
    env.check_view(m.file("old.safetensors"))
    env.check_view(m.file("renewed.safetensors"))
    expect_errno(errno.EKEYREJECTED, read, m.file("other.safetensors"))
    assert "vendor-a leaked signer" in m.log()
    # without trust= there is no validated subject: the binding does not apply
    m2 = mount(env.src, keyring)
    expect_errno(errno.ENOKEY, read, m2.file("old.safetensors"))


def test_chain_in_the_keyring_signing_key(env, keyring, mount, tool):
    """x5c in the signing JWK (RFC 7517): with trust= the keyring key is used
    only when its own chain validates, and only for its own key."""
    env.tool("encrypt", env.plain, env.src / "k.safetensors", "--keys", env.leaf_set("leaf"),
             "--tensors", "enc")
    okp = [k for k in json.loads(env.leaf_set("leaf").read_text())["keys"]
           if k["kty"] == "okp"][0]
    okp = {k: v for k, v in okp.items() if k != "d"}
    okp["x5c"] = json.loads((env.pki / "leaf.x5c").read_text())
    tool("key", "add", "--keyring", keyring, "-",
         input=json.dumps({"keys": [env.master, okp]}).encode())
    m = mount(env.src, keyring, opts=["trust=" + str(env.pki / "anchors")])
    env.check_view(m.file("k.safetensors"))
    m2 = mount(env.src, keyring, opts=["trust=" + str(env.pki / "anchors-other")])
    expect_errno(errno.EKEYREJECTED, read, m2.file("k.safetensors"))
    # a chain that is not the key's own
    okp["x5c"] = json.loads((env.pki / "renewed.x5c").read_text())
    tool("key", "add", "--keyring", keyring, "-", input=json.dumps(okp).encode())
    m3 = mount(env.src, keyring, opts=["trust=" + str(env.pki / "anchors")])
    expect_errno(errno.EKEYREJECTED, read, m3.file("k.safetensors"))
    assert "not its certificate's key" in m3.log()
