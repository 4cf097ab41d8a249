"""ctfs-keyd, the key service, and `ctfs-tool key fetch` (issue 11): a real
service on 127.0.0.1, real certificates made with openssl, the real kernel
keyring (through the test's own keyring, and request-key(8) through a
request-key.d entry of the test's own)."""

import base64
import concurrent.futures
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import binary, need
import keyd_env
from keyd_env import PKI, bed, proc_key_line, request_body, request_key_conf  # noqa: F401


def fetch(tool, k, cert, model, keyring, *extra, check=False):
    return tool("key", "fetch", "--server", k.url, "--cert", cert[0], "--key", cert[1],
                "--ca", k.pki.ca, "--keyring", keyring, "--fleet", "f1", *extra, model,
                check=check)


def key_serial(keyring, kid):
    p = subprocess.run(["keyctl", "search", keyring, "user", "ctfs:" + kid],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def test_release_by_hand_sets_expiry_and_audits(bed, tool, keyring):
    k = bed.start("--lifetime", "120")
    audit = str(bed.tmp / "client-audit.jsonl")
    p = fetch(tool, k, bed.m1, bed.model, keyring, "--audit", audit, check=True)
    assert b"expires in 120 s" in p.stdout
    serial = key_serial(keyring, "kA")
    assert serial, "key not in the keyring"
    payload = json.loads(subprocess.run(["keyctl", "pipe", serial], capture_output=True,
                                        check=True).stdout)
    assert payload["k"].rstrip("=") == bed.enc["k"].rstrip("=")
    expiry = proc_key_line(serial).split()[3]
    assert expiry != "perm" and expiry.endswith("m"), expiry
    # the file decrypts with the fetched key
    tool("key", "add", "--keyring", keyring, bed.models.sign_pub("kA"))
    out = bed.tmp / "dec.safetensors"
    tool("decrypt", bed.model, out, "--keyring", keyring)
    # service audit, field by field
    (r,) = k.records()
    sha = hashlib.sha256(open(bed.model, "rb").read()[:8 + int.from_bytes(
        open(bed.model, "rb").read(8), "little")]).hexdigest()
    assert r["decision"] == "allow" and r["code"] == "released" and r["status"] == 200
    assert r["enc_kid"] == "kA" and r["fleet"] == "f1" and r["lifetime"] == 120
    assert r["header_sha256"] == sha
    assert r["client"]["subject"] == "CN=m1,O=acme"
    assert r["client"]["issuer"] == "CN=fleet CA,O=ctfs test"
    assert r["client"]["serial"] == bed.pki.serial_of(bed.m1[0]).lstrip("0")
    assert r["client"]["sans"] == ["DNS:m1.acme.test"]
    assert r["client"]["peer"].startswith("127.0.0.1:")
    assert abs(r["time"] - time.time()) < 60
    assert r["sign_kid"] == "kA-sign" and len(r["policy_hash"]) == 64
    assert os.stat(k.audit).st_mode & 0o777 == 0o600
    assert bed.enc["k"].rstrip("=") not in open(k.audit).read()
    # client audit
    (c,) = [json.loads(line) for line in open(audit)]
    assert c["decision"] == "allow" and c["enc_kid"] == "kA" and c["lifetime"] == 120
    assert c["file"] == str(bed.model) and c["server"] == k.url
    assert os.stat(audit).st_mode & 0o777 == 0o600


def test_revoke_machine_then_model_on_sighup(bed, tool, keyring):
    k = bed.start()
    assert fetch(tool, k, bed.m1, bed.model, keyring).returncode == 0
    # an idle connection open across the reload is still served afterwards
    held = k.tls(*bed.m2)
    k.set_revoked({"machines": {"serials": [bed.pki.serial_of(bed.m1[0])]}})
    k.hup()
    subprocess.run(["keyctl", "clear", keyring], check=True)
    p = fetch(tool, k, bed.m1, bed.model, keyring)
    assert p.returncode == 1 and b"revoked_machine" in p.stderr
    assert key_serial(keyring, "kA") is None
    body = request_body(bed.model, "kA").encode()
    held.sendall(b"POST /v1/release HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    status, ans = keyd_env.read_answer(held)
    held.close()
    assert status == 200 and ans["kid"] == "kA"
    # by subject
    k.set_revoked({"machines": {"subjects": ["CN=m2,O=acme"]}})
    k.hup()
    assert b"revoked_machine" in fetch(tool, k, bed.m2, bed.model, keyring).stderr
    assert fetch(tool, k, bed.m1, bed.model, keyring).returncode == 0
    # models: by kid, then by header digest
    subprocess.run(["keyctl", "clear", keyring], check=True)
    k.set_revoked({"models": {"kids": ["kA"]}})
    k.hup()
    p = fetch(tool, k, bed.m1, bed.model, keyring)
    assert b"revoked_model" in p.stderr and key_serial(keyring, "kA") is None
    with open(bed.model, "rb") as f:
        data = f.read()
    sha = hashlib.sha256(data[:8 + int.from_bytes(data[:8], "little")]).hexdigest()
    k.set_revoked({"models": {"header_sha256": [sha.upper()]}})
    k.hup()
    assert b"revoked_model" in fetch(tool, k, bed.m1, bed.model, keyring).stderr
    codes = [r["code"] for r in k.records()]
    assert codes.count("revoked_machine") == 2 and codes.count("revoked_model") == 2
    # a broken list on reload keeps the previous one in force
    with open(k.revoked, "w") as f:
        f.write("{not json")
    k.hup()
    assert "reload failed" in k.logtext()
    assert b"revoked_model" in fetch(tool, k, bed.m1, bed.model, keyring).stderr


def test_revocation_ends_access_within_the_lifetime(bed, tool, keyring):
    k = bed.start("--lifetime", "2")
    assert fetch(tool, k, bed.m1, bed.model, keyring).returncode == 0
    k.set_revoked({"machines": {"subjects": ["CN=m1,O=acme"]}})
    k.hup()
    time.sleep(2.5)
    assert key_serial(keyring, "kA") is None, "key outlived its lifetime"
    out = bed.tmp / "dec.safetensors"
    assert tool("decrypt", bed.model, out, "--keyring", keyring, check=False).returncode != 0
    assert fetch(tool, k, bed.m1, bed.model, keyring).returncode == 1


def test_client_certificates_refused(bed, tool, keyring):
    k = bed.start()
    expired = bed.pki.issue("old", "/O=acme/CN=old", "DNS:old.acme.test", expired=True)
    other = PKI(str(bed.tmp / "other"))
    foreign = other.issue("f", "/O=evil/CN=f", "DNS:f.test")
    p = fetch(tool, k, expired, bed.model, keyring)
    assert p.returncode == 1 and b"client_cert" in p.stderr and b"expired" in p.stderr
    p = fetch(tool, k, foreign, bed.model, keyring)
    assert p.returncode == 1 and b"client_cert" in p.stderr
    # a certificate that does not verify gets no memory for a large request
    st, ans = k.post(*foreign, b"", headers={"Content-Length": "100000"})
    assert (st, ans["error"]) == (413, "too_large")
    # no certificate at all: the handshake fails, and is audited
    with pytest.raises((OSError, ValueError)):
        s = k.tls(None, None)
        s.sendall(b"POST /v1/release HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        if not s.recv(100):
            raise OSError("closed")
    assert key_serial(keyring, "kA") is None
    recs = [r for r in k.records() if r["code"] != "too_large"]
    assert [r["code"] for r in recs[:2]] == ["client_cert", "client_cert"]
    assert recs[0]["client"]["subject"] == "CN=old,O=acme"
    assert recs[1]["client"]["issuer"] == "CN=fleet CA,O=ctfs test" or \
        recs[1]["client"]["subject"] == "CN=f,O=evil"
    time.sleep(0.2)
    assert k.records()[-1]["code"] == "tls"


def test_malformed_requests_each_refused_and_audited(bed, tool):
    other_keys, _ = bed.models.keyset("kB", custody=False)
    _, enc_c = bed.models.keyset("kC", custody=False)
    k = bed.start("--timeout", "2", "--max-request", "65536")
    m1 = bed.m1
    good = request_body(bed.model, "kA")
    with open(bed.model, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    hdr = bytearray(data[:8 + n])
    tampered = hdr.replace(b'"U8"', b'"I8"')
    assert tampered != hdr
    plain = bed.tmp / "a.plain.safetensors"
    unknown, _ = bed.models.model("b", other_keys)
    cases = [
        (request_body(bed.model, "kA")[:-5], 400, "bad_request"),
        (json.dumps({"v": 1, "file_size": 100, "header": "AAAA"}), 400, "bad_request"),
        (json.dumps({"v": 2, "kid": "kA", "file_size": 100, "header": "AAAA"}), 400,
         "bad_request"),
        (json.dumps({"v": 1, "kid": "../etc", "file_size": 100, "header": "AAAA"}), 400,
         "bad_request"),
        (json.dumps({"v": 1, "kid": "kA", "file_size": 100, "header": "!!!"}), 400,
         "bad_request"),
        (request_body(bed.model, "kA", file_size=12), 400, "bad_header"),
        (request_body(plain, "kA"), 400, "bad_header"),
        (request_body(bed.model, "kZ"), 400, "kid_mismatch"),
        (request_body(bed.model, "kA", header=bytes(tampered)), 403, "signature"),
        (request_body(unknown, "kB"), 404, "unknown_kid"),
    ]
    for body, status, code in cases:
        st, ans = k.post(*m1, body)
        assert (st, ans["error"]) == (status, code), (body[:80], st, ans)
    # HTTP level
    assert k.post(*m1, good, path="/v2/x")[0] == 404
    assert k.post(*m1, good, method="GET")[0] == 405
    assert k.post(*m1, good, headers={})[0] == 411
    assert k.post(*m1, good, headers={"Content-Length": "99999999"})[0] == 413
    assert k.post(*m1, b"", headers={"X": "y" * 9000})[0] == 431
    # a slow client is cut at the timeout
    t0 = time.monotonic()
    with k.tls(*m1) as s:
        s.sendall(b"POST /v1/release HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
        status, ans = keyd_env.read_answer(s)
    assert status == 408 and ans["error"] == "timeout" and time.monotonic() - t0 < 5
    # a key file others can read is not served
    bed.models.put_custody("kA", bed.enc, mode=0o644)
    st, ans = k.post(*m1, good)
    assert st == 500 and ans["error"] == "custody" and "group or others" in ans["reason"]
    bed.models.put_custody("kA", bed.enc)
    # a custody key that does not open this file
    bed.models.put_custody("kA", dict(enc_c, kid="kA"))
    st, ans = k.post(*m1, good)
    assert (st, ans["error"]) == (409, "key_mismatch")
    bed.models.put_custody("kA", bed.enc)
    # and the service still serves
    st, ans = k.post(*m1, good)
    assert st == 200 and ans["kid"] == "kA" and ans["lifetime"] == 300
    codes = [r["code"] for r in k.records()]
    for _, _, code in cases:
        assert code in codes
    assert codes.count("timeout") == 1 and codes.count("too_large") == 2
    assert codes[-1] == "released"
    assert all(r["client"]["subject"] == "CN=m1,O=acme" for r in k.records())


def test_flood_is_bounded(bed):
    k = bed.start("--max-conn", "2", "--timeout", "3")
    idle = [k.tls(*bed.m1) for _ in range(2)]
    time.sleep(0.2)
    try:
        with pytest.raises((OSError, ValueError)):
            s = k.tls(*bed.m1, timeout=3)
            s.sendall(b"x")
            if not s.recv(10):
                raise OSError("closed")
    finally:
        for s in idle:
            s.close()
    time.sleep(0.3)
    assert "busy" in [r["code"] for r in k.records()]
    st, _ = k.post(*bed.m1, request_body(bed.model, "kA"))
    assert st == 200


ENTITLED = """package model

allow if {
	some m in data.fleets[input.fleet].machines
	m == input.client.subject
	input.header.metadata.license == "acme-2026"
}
"""


def test_remote_policy_decides_with_client_identity_and_data(bed, tool, keyring):
    keys, _ = bed.models.keyset("kP")
    model, _ = bed.models.model("p", keys, policy_remote=ENTITLED,
                                metadata={"license": "acme-2026"})
    other, _ = bed.models.model("q", keys, policy_remote=ENTITLED,
                                metadata={"license": "other"})
    k = bed.start()
    with open(k.data, "w") as f:
        json.dump({"fleets": {"f1": {"machines": ["CN=m1,O=acme"]}}}, f)
    k.hup()
    assert fetch(tool, k, bed.m1, model, keyring).returncode == 0
    subprocess.run(["keyctl", "clear", keyring], check=True)
    p = fetch(tool, k, bed.m2, model, keyring)
    assert p.returncode == 1 and b"403 policy" in p.stderr
    assert key_serial(keyring, "kP") is None
    # the header's metadata is input too
    assert b"403 policy" in fetch(tool, k, bed.m1, other, keyring).stderr
    # entitlements change with the data file, on SIGHUP
    with open(k.data, "w") as f:
        json.dump({"fleets": {"f1": {"machines": ["CN=m1,O=acme", "CN=m2,O=acme"]}}}, f)
    k.hup()
    assert fetch(tool, k, bed.m2, model, keyring).returncode == 0
    recs = k.records()
    assert [r["code"] for r in recs] == ["released", "policy", "policy", "released"]
    assert recs[1]["client"]["subject"] == "CN=m2,O=acme" and recs[1]["enc_kid"] == "kP"
    assert "undefined" in recs[1]["reason"] or "false" in recs[1]["reason"], recs[1]["reason"]


def test_remote_policy_errors_refuse(bed, tool, keyring):
    keys, _ = bed.models.keyset("kE")
    # v0 syntax (no 'if') is outside the engine's subset: encrypt needs --force
    bad = "package model\nallow { input.x == 1 }\n"
    src = bed.tmp / "e.plain.safetensors"
    keyd_env.write_safetensors(src)
    pol = bed.tmp / "e.rego"
    pol.write_text(bad)
    model = bed.tmp / "e.cryptotensors"
    tool("encrypt", src, model, "--keys", keys, "--policy-remote", pol, "--force")
    k = bed.start()
    p = fetch(tool, k, bed.m1, model, keyring)
    assert p.returncode == 1 and b"403 policy" in p.stderr and b"compile" in p.stderr
    assert k.records()[-1]["code"] == "policy"


def test_service_down_and_tls_failures(bed, tool, keyring):
    k = bed.start()
    k.stop()
    audit = str(bed.tmp / "client-audit.jsonl")
    p = fetch(tool, k, bed.m1, bed.model, keyring, "--audit", audit)
    assert p.returncode == 1 and b"unreachable" in p.stderr
    assert key_serial(keyring, "kA") is None
    (c,) = [json.loads(line) for line in open(audit)]
    assert c["decision"] == "deny" and c["errno"] == "ENOKEY" and "unreachable" in c["reason"]
    # a service whose certificate the client's CA did not sign
    k.start()
    other = PKI(str(bed.tmp / "other"))
    p = tool("key", "fetch", "--server", k.url, "--cert", bed.m1[0], "--key", bed.m1[1],
             "--ca", other.ca, "--keyring", keyring, bed.model, check=False)
    assert p.returncode == 1 and b"TLS handshake failed" in p.stderr
    assert key_serial(keyring, "kA") is None


def test_wrong_answers_are_rejected(bed, tool, keyring):
    """A service answering with another kid, or a key that does not open the
    file, is not believed: nothing lands in the keyring."""
    import ssl
    cert, key = bed.pki.issue("fake", "/CN=fake", "IP:127.0.0.1")
    _, enc_b = bed.models.keyset("kW", custody=False)
    answers = [
        {"kid": "kW", "lifetime": 60, "jwk": enc_b},
        {"kid": "kA", "lifetime": 60, "jwk": dict(enc_b, kid="kA")},
        {"kid": "kA", "lifetime": 0, "jwk": bed.enc},
    ]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(bed.pki.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    port = lsock.getsockname()[1]

    def serve():
        for a in answers:
            c, _ = lsock.accept()
            with ctx.wrap_socket(c, server_side=True) as s:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                n = int([l for l in head.split(b"\r\n") if l.lower().startswith(
                    b"content-length")][0].split(b":")[1])
                while len(body) < n:
                    body += s.recv(65536)
                out = json.dumps(a).encode()
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        for want in (b"answered for kid=kW", b"does not unwrap", b"out of range"):
            p = tool("key", "fetch", "--server", "https://127.0.0.1:%d" % port, "--cert",
                     bed.m1[0], "--key", bed.m1[1], "--ca", bed.pki.ca, "--keyring", keyring,
                     bed.model, check=False)
            assert p.returncode == 1 and want in p.stderr, p.stderr.decode()
            assert key_serial(keyring, "kA") is None
    finally:
        t.join(timeout=10)
        lsock.close()


# --- through the kernel: request_key(2) -> request-key(8) -> ctfs-tool key fetch ---------

def callout(k, cert, model, **extra):
    with open(model, "rb") as f:
        data = f.read()
    sha = hashlib.sha256(data[:8 + int.from_bytes(data[:8], "little")]).hexdigest()
    f = {"server": k.url, "cert": cert[0], "key": cert[1], "ca": k.pki.ca, "fleet": "f1",
         "file": os.path.abspath(model), "sha256": sha}
    f.update(extra)
    return "ctfs1 " + " ".join("%s=%s" % kv for kv in f.items())


def test_request_key_instantiates_with_expiry(bed, tool, keyring, request_key_conf):
    kid = request_key_conf + "-a"
    keys, enc = bed.models.keyset(kid)
    model, _ = bed.models.model("rk", keys)
    k = bed.start("--lifetime", "90")
    p = subprocess.run(["keyctl", "request2", "user", "ctfs:" + kid,
                        callout(k, bed.m1, model), keyring], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    serial = p.stdout.strip()
    payload = json.loads(subprocess.run(["keyctl", "pipe", serial], capture_output=True,
                                        check=True).stdout)
    assert payload["kid"] == kid and payload["k"].rstrip("=") == enc["k"].rstrip("=")
    assert proc_key_line(serial).split()[3] in ("1m", "2m"), proc_key_line(serial)
    tool("key", "add", "--keyring", keyring, bed.models.sign_pub(kid))
    out = bed.tmp / "dec.safetensors"
    tool("decrypt", model, out, "--keyring", keyring)
    assert [r["code"] for r in k.records()] == ["released"]


def test_request_key_refusal_is_negative_cached(bed, tool, keyring, request_key_conf):
    kid = request_key_conf + "-b"
    keys, _ = bed.models.keyset(kid)
    model, _ = bed.models.model("rkb", keys)
    k = bed.start()
    k.set_revoked({"machines": {"subjects": ["CN=m2,O=acme"]}})
    k.hup()
    for _ in range(3):
        p = subprocess.run(["keyctl", "request2", "user", "ctfs:" + kid,
                            callout(k, bed.m2, model, neg_ttl="30"), keyring],
                           capture_output=True, text=True)
        assert p.returncode != 0 and "Permission denied" in p.stderr, p.stderr
    # one request reached the service; the others met the negative key
    assert [r["code"] for r in k.records()] == ["revoked_machine"]
    # via the library function the daemon calls
    p = tool("key", "fetch", "--server", k.url, "--cert", bed.m2[0], "--key", bed.m2[1],
             "--ca", k.pki.ca, "--keyring", keyring, "--request", model, check=False)
    assert p.returncode == 1 and b"Permission denied" in p.stderr
    assert len(k.records()) == 1


def test_request_key_bad_callout_and_changed_file(bed, tool, keyring, request_key_conf):
    kid = request_key_conf + "-c"
    keys, _ = bed.models.keyset(kid)
    model, _ = bed.models.model("rkc", keys)
    k = bed.start()
    p = subprocess.run(["keyctl", "request2", "user", "ctfs:" + kid,
                        callout(k, bed.m1, model, sha256="00" * 32), keyring],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "rejected" in p.stderr.lower(), p.stderr
    assert k.records() == []


def test_request_key_runs_as_the_requester(bed, tool, request_key_conf):
    """request-key(8) runs the handler as root; it becomes the requester, so
    an unprivileged user cannot fetch with a client key only root reads, and
    can with one it reads (the control)."""
    import tempfile
    need(shutil.which("setpriv") is not None, "setpriv (util-linux) missing")
    kid = request_key_conf + "-u"
    keys, _ = bed.models.keyset(kid)
    model, _ = bed.models.model("ru", keys)
    k = bed.start()
    pub = tempfile.mkdtemp(prefix="ctfs-keyd-")   # outside the root-only pytest tree
    try:
        os.chmod(pub, 0o755)
        files = {}
        for name, src, mode in (("model.cryptotensors", model, 0o644),
                                ("m1.pem", bed.m1[0], 0o644), ("m1.key", bed.m1[1], 0o600),
                                ("ca.pem", bed.pki.ca, 0o644)):
            files[name] = os.path.join(pub, name)
            shutil.copy(src, files[name])
            os.chmod(files[name], mode)
        co = callout(k, (files["m1.pem"], files["m1.key"]), files["model.cryptotensors"],
                     ca=files["ca.pem"])
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "keyctl",
                  "session", "-", "keyctl", "request2", "user", "ctfs:" + kid, co, "@s"]
        p = subprocess.run(nobody, capture_output=True, text=True)
        assert p.returncode != 0, p.stdout
        assert k.records() == []
        # control: the same request once nobody may read the key (after the
        # negative key of the refusal, in that session, is gone with it)
        os.chmod(files["m1.key"], 0o644)
        p = subprocess.run(nobody, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert [r["code"] for r in k.records()] == ["released"]
    finally:
        shutil.rmtree(pub)


def test_concurrent_requests_make_one_service_request(bed, tool, keyring, request_key_conf):
    kid = request_key_conf + "-d"
    keys, _ = bed.models.keyset(kid)
    models = [bed.models.model("cc%d" % i, keys)[0] for i in range(2)]
    k = bed.start()
    argv = [binary("ctfs-tool"), "key", "fetch", "--server", k.url, "--cert", bed.m1[0],
            "--key", bed.m1[1], "--ca", k.pki.ca, "--keyring", keyring, "--request"]
    procs = [subprocess.Popen(argv + [models[i % 2]], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for i in range(50)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs if o[1]][:3]
    ids = {o[0].split()[-1] for o in outs}
    assert len(ids) == 1, ids
    assert [r["code"] for r in k.records()] == ["released"]


def test_releases_per_second(bed, capsys):
    """Figure for the report: releases per second over fresh mTLS connections,
    8 clients in parallel, on loopback."""
    k = bed.start("--max-conn", "64")
    body = request_body(bed.model, "kA")
    n = 200

    def one(_):
        st, _ = k.post(*bed.m1, body)
        return st
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        statuses = list(ex.map(one, range(n)))
    dt = time.monotonic() - t0
    assert statuses.count(200) == n
    with capsys.disabled():
        print("\n# ctfs-keyd: %d releases in %.2f s = %.0f releases/s (8 clients, new TLS "
              "connection each; load average %.1f)" % (n, dt, n / dt, os.getloadavg()[0]))
    assert len(k.records()) == n


def test_fleet_pki_from_ctfs_tool_keyd(bed, tool, keyring):
    """`ctfs-tool keyd ca/issue` make a CA, the service's certificate and a
    machine's, which the service and the client accept as they are."""
    d = bed.tmp / "toolpki"
    d.mkdir()
    tool("keyd", "ca", "--out", d, "--org", "provider")

    class ToolPKI:
        ca = str(d / "ca.pem")

        def issue(self, name, subj, san):
            tool("keyd", "issue", "--ca", d, "--cn", name, "--server", "--ip", "127.0.0.1",
                 "--out", d)
            return str(d / (name + ".pem")), str(d / (name + ".key"))
    tool("keyd", "issue", "--ca", d, "--cn", "m9", "--org", "acme", "--dns", "m9.acme.test",
         "--out", d)
    m9 = (str(d / "m9.pem"), str(d / "m9.key"))
    assert os.stat(m9[1]).st_mode & 0o777 == 0o600
    k = keyd_env.Keyd(binary("ctfs-keyd"), ToolPKI(), bed.models, str(bed.tmp)).start()
    try:
        p = tool("key", "fetch", "--server", k.url, "--cert", m9[0], "--key", m9[1], "--ca",
                 ToolPKI.ca, "--keyring", keyring, bed.model)
        assert b"added ctfs:kA" in p.stdout
        (r,) = k.records()
        assert r["client"]["subject"] == "CN=m9,O=acme"
        assert r["client"]["issuer"] == "CN=ctfs fleet CA,O=provider"
        assert r["client"]["sans"] == ["DNS:m9.acme.test"]
    finally:
        k.stop()
    # never overwritten
    p = tool("keyd", "issue", "--ca", d, "--cn", "m9", "--out", d, check=False)
    assert p.returncode == 1 and b"File exists" in p.stderr
    assert tool("keyd", "issue", "--ca", d, "--cn", "x", "--ip", "nope", "--out", d,
                check=False).returncode == 2


def test_custody_key_bound_to_another_signer_is_not_released(bed, tool, keyring):
    """Step 4 of CONTROL-PLANE.md at the service: a master key whose
    ctfs_signers does not name the header's signer is not released; one
    without a list is bound to --signers, and the released JWK says so."""
    keys_x, _ = bed.models.keyset("kX", custody=False)
    tool("key", "add", "--keyring", keyring, keys_x)
    serial = key_serial(keyring, "kX")
    bound_x = json.loads(subprocess.run(["keyctl", "pipe", serial], capture_output=True,
                                        check=True).stdout)
    assert bound_x["ctfs_signers"]
    subprocess.run(["keyctl", "clear", keyring], check=True)
    k = bed.start()
    st, ans = k.post(*bed.m1, request_body(bed.model, "kA"))
    assert st == 200 and ans["jwk"]["ctfs_signers"], ans["jwk"].keys()
    bed.models.put_custody("kA", dict(bed.enc, ctfs_signers=bound_x["ctfs_signers"]))
    st, ans = k.post(*bed.m1, request_body(bed.model, "kA"))
    assert (st, ans["error"]) == (409, "key_mismatch") and "signer" in ans["reason"], ans


def test_no_release_without_its_audit_record(bed):
    """The record is written before the answer: when it cannot be, the key
    is not released (fail closed), and refusals are still answered."""
    k = bed.start()
    k.stop()
    k.argv[k.argv.index("--audit") + 1] = "/dev/full"
    k.start()
    st, ans = k.post(*bed.m1, request_body(bed.model, "kA"))
    assert (st, ans["error"]) == (500, "audit"), ans
    assert "jwk" not in ans
    st, ans = k.post(*bed.m1, request_body(bed.model, "kZ"))
    assert (st, ans["error"]) == (400, "kid_mismatch")
    assert "not released" in k.logtext()
