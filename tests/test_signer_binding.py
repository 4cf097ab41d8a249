"""Signer binding (issue 9, finding 4): a master key accepts only the signers
it names. Vendor B, whose signing key is trusted on the machine, re-signs
vendor A's file with a permissive policy; the mount must refuse it."""

import base64
import errno
import hashlib
import json
import os
import shutil
import subprocess

import pytest

import ct_forge
import ct_reference as ref

NAME = "v2-aes256-partial.safetensors"
DENY = "package model\ndefault allow = false"
ALLOW = "package model\nallow = true"


def expect_errno(code, path):
    with pytest.raises(OSError) as e:
        open(path, "rb").read()
    assert e.value.errno == code, "expected %s, got %s" % (
        errno.errorcode[code], errno.errorcode.get(e.value.errno))


def thumbprint(x_b64):
    """RFC 7638 thumbprint of an Ed25519 key, computed independently."""
    x = base64.urlsafe_b64encode(ref.b64(x_b64)).rstrip(b"=").decode()
    text = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"),
                      sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def setup(tmp_path, vectors, tool):
    """A's file (policy: deny) and B's re-signed copy (policy: allow, B's kid)."""
    src = tmp_path / "src"
    src.mkdir()
    a_keys = os.path.join(vectors, "cryptotensors", "keys-aes256.json")
    b_keys = tmp_path / "vendor-b.json"
    tool("keygen", "--alg", "aes256gcm", "--kid", "vendor-b", "--out", b_keys)
    b_sign = [k for k in ref.load_keys(str(b_keys)) if k["kty"] == "okp"][0]
    a_file = src / "a.safetensors"
    ct_forge.mutate_meta(os.path.join(vectors, "cryptotensors", NAME), a_file, a_keys,
                         "__policy__", lambda p: dict(p, local=DENY))
    hdr, data = ct_forge.split(a_file)
    meta = hdr["__metadata__"]
    ck = json.loads(meta["__crypto_keys__"])
    ck["sign"]["kid"] = b_sign["kid"]
    meta["__crypto_keys__"] = json.dumps(ck, separators=(",", ":"))
    meta["__policy__"] = json.dumps(dict(json.loads(meta["__policy__"]), local=ALLOW),
                                    separators=(",", ":"))
    ct_forge.write(src / "forged.safetensors", hdr, data, str(b_keys))
    return src, a_keys, b_keys, b_sign


def test_resigned_file_is_refused(setup, tool, keyring, mount):
    src, a_keys, b_keys, b_sign = setup
    p = tool("key", "add", "--keyring", keyring, a_keys)
    assert b"allows signer" in p.stdout
    tool("key", "add", "--keyring", keyring, b_keys)
    listing = tool("key", "list", "--keyring", keyring).stdout.decode()
    assert "thumbprint=" + thumbprint(b_sign["x"]) in listing
    m = mount(src, keyring)
    expect_errno(errno.EACCES, m.file("a.safetensors"))       # A's own policy
    expect_errno(errno.EKEYREJECTED, m.file("forged.safetensors"))
    log = m.log()
    assert "enc-1-a" in log and thumbprint(b_sign["x"]) in log and "forged" in log
    # the reference reader confirms the forged file is otherwise valid: the
    # signature verifies with B's key and A's master key decrypts it
    keys = ref.load_keys(a_keys) + ref.load_keys(str(b_keys))
    ref.decrypt_file(str(src / "forged.safetensors"), keys)


def test_signer_allowed_explicitly(setup, tool, keyring, mount):
    src, a_keys, b_keys, _ = setup
    a_master = [k for k in ref.load_keys(a_keys) if k["kty"] == "oct"]
    inp = json.dumps({"keys": a_master}).encode()
    tool("key", "add", "--keyring", keyring, "--signer", b_keys, "-", input=inp)
    tool("key", "add", "--keyring", keyring, b_keys)
    m = mount(src, keyring)
    assert len(open(m.file("forged.safetensors"), "rb").read()) > 0


def add_raw(desc, payload, keyring):
    """A key put in the keyring by hand, as before signer binding existed."""
    p = subprocess.run(["keyctl", "padd", "user", desc, keyring],
                       input=json.dumps(payload).encode(), capture_output=True)
    assert p.returncode == 0, p.stderr


def test_unbound_master_key(setup, tool, keyring, mount, vectors):
    src, a_keys, b_keys, _ = setup
    legit = src / "legit.safetensors"
    shutil.copy(os.path.join(vectors, "cryptotensors", NAME), legit)
    for k in ref.load_keys(a_keys):
        add_raw("ctfs:" + k["kid"], k, keyring)
    tool("key", "add", "--keyring", keyring, b_keys)
    m = mount(src, keyring)
    # fail closed: a master key without its signer list opens nothing
    expect_errno(errno.EKEYREJECTED, m.file("legit.safetensors"))
    assert "names no allowed signer" in m.log()
    # the documented migration: add the key set again, and it works
    tool("key", "add", "--keyring", keyring, a_keys)
    assert len(open(m.file("legit.safetensors"), "rb").read()) > 0
    expect_errno(errno.EKEYREJECTED, m.file("forged.safetensors"))


def test_unbound_keys_warn(setup, tool, keyring, mount, vectors):
    src, a_keys, b_keys, _ = setup
    shutil.copy(os.path.join(vectors, "cryptotensors", NAME), src / "legit.safetensors")
    for k in ref.load_keys(a_keys):
        add_raw("ctfs:" + k["kid"], k, keyring)
    m = mount(src, keyring, opts=["unbound_keys=warn"])
    assert len(open(m.file("legit.safetensors"), "rb").read()) > 0
    assert "unbound_keys=warn" in m.log() and "enc-1-a" in m.log()


def test_tool_verify_binds_a_key_set(setup, tool, tmp_path):
    src, a_keys, b_keys, _ = setup
    # one file holding both vendors' keys: A's master key names A's signer
    a = ref.load_keys(a_keys)
    for k in a:
        if k["kty"] == "oct":
            k["ctfs_signers"] = [thumbprint(x["x"]) for x in a if x["kty"] == "okp"]
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"keys": a + ref.load_keys(str(b_keys))}))
    tool("verify", "--keys", both, src / "a.safetensors")
    tool("verify", "--keys", a_keys, src / "a.safetensors")
    p = tool("verify", "--keys", both, src / "forged.safetensors", check=False)
    assert p.returncode != 0 and b"not allowed by master key" in p.stderr
