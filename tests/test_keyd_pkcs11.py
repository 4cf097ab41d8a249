"""ctfs-keyd with its master keys in a PKCS#11 token (issue 11): a real
SoftHSM2 token initialised by the test in its own directory."""

import base64
import os
import subprocess

import pytest

from conftest import binary, need
import keyd_env
from keyd_env import SoftHSM, bed, request_body  # noqa: F401


@pytest.fixture
def hsm(tmp_path):
    need(os.path.exists(keyd_env.SOFTHSM_MODULE), "SoftHSM2 (package softhsm2) missing")
    return SoftHSM(str(tmp_path / "hsm"))


def import_keys(hsm, keyset, check=True):
    p = subprocess.run([binary("ctfs-keyd"), *hsm.args(), "--import", keyset],
                       capture_output=True, env=hsm.env)
    if check:
        assert p.returncode == 0, p.stderr.decode()
    return p


def test_release_from_the_token(bed, hsm, tool, keyring):
    import_keys(hsm, bed.keys)
    k = bed.start(*hsm.args(), env=hsm.env, name="svc")
    body = request_body(bed.model, "kA")
    for _ in range(5):  # one session serves every request
        st, ans = k.post(*bed.m1, body)
        assert st == 200 and ans["kid"] == "kA"
        assert ans["jwk"]["k"].rstrip("=") == bed.enc["k"].rstrip("=")
        assert ans["jwk"]["alg"] == "aes256gcm"
    assert "reopening" not in k.logtext()
    # the fetched key opens the file
    p = tool("key", "fetch", "--server", k.url, "--cert", bed.m1[0], "--key", bed.m1[1],
             "--ca", bed.pki.ca, "--keyring", keyring, bed.model)
    assert b"added ctfs:kA" in p.stdout
    # unknown kid
    keys_b, _ = bed.models.keyset("kB", custody=False)
    model_b, _ = bed.models.model("b", keys_b)
    k.stop()
    k.start()
    st, ans = k.post(*bed.m1, request_body(model_b, "kB"))
    assert (st, ans["error"]) == (404, "unknown_kid")
    # the key is not in the token's files in the clear (a private object)
    raw = base64.b64decode(bed.enc["k"] + "==")
    for root, _, files in os.walk(hsm.tokens):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert raw not in fh.read()
    # and nothing under the service's directory holds it either
    for root, _, files in os.walk(k.d):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read()
            assert raw not in data and bed.enc["k"].rstrip("=").encode() not in data


def test_two_instances_serve_one_fleet_from_one_token(bed, hsm):
    import_keys(hsm, bed.keys)
    a = bed.start(*hsm.args(), env=hsm.env, name="a")
    b = bed.start(*hsm.args(), env=hsm.env, name="b")
    body = request_body(bed.model, "kA")
    for k in (a, b, a, b):
        st, ans = k.post(*bed.m1, body)
        assert st == 200 and ans["jwk"]["k"].rstrip("=") == bed.enc["k"].rstrip("=")
    assert len(a.records()) == 2 and len(b.records()) == 2


def test_token_refusals(bed, hsm, tmp_path):
    import_keys(hsm, bed.keys)
    # a kid already in the token is not overwritten
    p = import_keys(hsm, bed.keys, check=False)
    assert p.returncode == 1 and b"already in the token" in p.stderr
    # a wrong PIN stops the service at start, with a reason
    with open(hsm.pin_file, "w") as f:
        f.write("0000\n")
    p = subprocess.run([binary("ctfs-keyd"), "--listen", "127.0.0.1:1", "--cert", bed.m1[0],
                        "--key", bed.m1[1], "--client-ca", bed.pki.ca, "--signers",
                        bed.models.signers, *hsm.args()], capture_output=True, env=hsm.env,
                       timeout=30)
    assert p.returncode == 1 and b"logged-in session" in p.stderr, p.stderr
    p = subprocess.run([binary("ctfs-keyd"), "--listen", "127.0.0.1:1", "--cert", bed.m1[0],
                        "--key", bed.m1[1], "--client-ca", bed.pki.ca, "--signers",
                        bed.models.signers, "--pkcs11-module", keyd_env.SOFTHSM_MODULE,
                        "--pkcs11-token", "nosuch", "--pkcs11-pin-file", hsm.pin_file],
                       capture_output=True, env=hsm.env, timeout=30)
    assert p.returncode == 1 and b"no token labelled 'nosuch'" in p.stderr, p.stderr
