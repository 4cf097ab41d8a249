"""A key-release test bed: a CA and certificates made with openssl, protected
models, and a real ctfs-keyd on 127.0.0.1 on a free port (tests/test_keyd.py
and the mount tests). Everything lives in the test's tmp_path and the service
is stopped in every outcome by the fixture that owns it."""

import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time

import pytest

from conftest import binary, need

OPENSSL = "openssl"


def run(*argv, **kw):
    p = subprocess.run([str(a) for a in argv], capture_output=True, **kw)
    if p.returncode != 0:
        raise AssertionError("%s failed: %s" % (" ".join(map(str, argv)),
                                                p.stderr.decode(errors="replace")))
    return p


class PKI:
    """A test CA; server and client certificates signed by it."""

    def __init__(self, d):
        self.d = d
        os.makedirs(d, exist_ok=True)
        self.ca_key, self.ca = self.p("ca.key"), self.p("ca.pem")
        run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "2",
            "-subj", "/O=ctfs test/CN=fleet CA")
        self.serial = 0x1000

    def p(self, name):
        return os.path.join(self.d, name)

    def issue(self, name, subj, san, days=2, expired=False, ca=None):
        """-> (cert, key). expired: valid only in 2020."""
        ca_key, ca_pem = ca or (self.ca_key, self.ca)
        key, csr, crt = self.p(name + ".key"), self.p(name + ".csr"), self.p(name + ".pem")
        ext = self.p(name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % san)
        run(OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", csr, "-subj", subj)
        self.serial += 1
        if expired:
            self._issue_expired(csr, crt, ext, ca_key, ca_pem)
        else:
            run(OPENSSL, "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
                "-set_serial", str(self.serial), "-days", str(days), "-extfile", ext,
                "-out", crt)
        return crt, key

    def _issue_expired(self, csr, crt, ext, ca_key, ca_pem):
        db = self.p("ca-db")
        os.makedirs(db, exist_ok=True)
        open(os.path.join(db, "index.txt"), "w").close()
        conf = self.p("ca.cnf")
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s/index.txt\nnew_certs_dir=%s\n"
                    "serial=%s/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\n"
                    "O=optional\nCN=supplied\n" % (db, db, db))
        with open(os.path.join(db, "serial"), "w") as f:
            f.write("%X\n" % self.serial)
        run(OPENSSL, "ca", "-batch", "-config", conf, "-cert", ca_pem, "-keyfile", ca_key,
            "-in", csr, "-out", crt, "-startdate", "20200101000000Z", "-enddate",
            "20200102000000Z", "-extfile", ext, "-notext")

    def serial_of(self, cert):
        out = run(OPENSSL, "x509", "-in", cert, "-noout", "-serial").stdout.decode()
        return out.strip().split("=", 1)[1]


def write_safetensors(path, n=4096, metadata=None):
    hdr = {"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}
    if metadata:
        hdr["__metadata__"] = metadata
    text = json.dumps(hdr, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    data = bytes((i * 7 + 3) & 0xFF for i in range(n))
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    return data


class Models:
    """Key sets and protected models; the service's custody and signer files."""

    def __init__(self, tool, d):
        self.tool, self.d = tool, d
        self.keys_dir = os.path.join(d, "custody")
        os.makedirs(self.keys_dir, mode=0o700, exist_ok=True)
        self.signers = os.path.join(d, "signers.json")
        self.sign_keys = []

    def keyset(self, kid, custody=True):
        path = os.path.join(self.d, kid + ".keys.json")
        self.tool("keygen", "--enc-kid", kid, "--sign-kid", kid + "-sign", "--out", path)
        with open(path) as f:
            keys = json.load(f)["keys"]
        enc = [k for k in keys if k["kty"].lower() == "oct"][0]
        sign = [k for k in keys if k["kty"].lower() == "okp"][0]
        if custody:
            self.put_custody(kid, enc)
        self.sign_keys.append({k: v for k, v in sign.items() if k != "d"})
        # what a client machine holds: the signer's public key only
        with open(os.path.join(self.d, kid + ".sign.json"), "w") as f:
            json.dump(self.sign_keys[-1], f)
        with open(self.signers, "w") as f:
            json.dump({"keys": self.sign_keys}, f)
        return path, enc

    def sign_pub(self, kid):
        return os.path.join(self.d, kid + ".sign.json")

    def put_custody(self, kid, enc, mode=0o600):
        p = os.path.join(self.keys_dir, kid + ".jwk")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            json.dump(enc, f)
        os.chmod(p, mode)

    def model(self, name, keyset, policy_remote=None, n=4096, metadata=None):
        src = os.path.join(self.d, name + ".plain.safetensors")
        data = write_safetensors(src, n, metadata)
        out = os.path.join(self.d, name + ".cryptotensors")
        argv = ["encrypt", src, out, "--keys", keyset]
        if policy_remote is not None:
            pol = os.path.join(self.d, name + ".remote.rego")
            with open(pol, "w") as f:
                f.write(policy_remote)
            argv += ["--policy-remote", pol]
        self.tool(*argv)
        return out, data


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Keyd:
    def __init__(self, exe, pki, models, d, extra=(), env=None):
        self.env = env
        self.pki, self.models, self.d = pki, models, d
        self.port = free_port()
        self.d = d
        self.url = "https://127.0.0.1:%d" % self.port
        self.cert, self.key = pki.issue("server-%d" % self.port, "/CN=keyd", "IP:127.0.0.1")
        self.audit = os.path.join(d, "keyd-audit.jsonl")
        self.revoked = os.path.join(d, "revoked.json")
        self.data = os.path.join(d, "policy-data.json")
        self.set_revoked({})
        with open(self.data, "w") as f:
            json.dump({"customers": {}}, f)
        self.log = os.path.join(d, "keyd.log")
        self.argv = [exe, "--listen", "127.0.0.1:%d" % self.port, "--cert", self.cert,
                     "--key", self.key, "--client-ca", pki.ca, "--signers", models.signers,
                     "--revoked", self.revoked, "--data", self.data, "--audit", self.audit]
        self.argv += list(extra) if any(a.startswith("--pkcs11") for a in extra) else \
            ["--keys", models.keys_dir] + list(extra)
        self.proc = None

    def start(self):
        seen = self.logtext().count("listening on") if os.path.exists(self.log) else 0
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "a"), env=self.env)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("ctfs-keyd exited: " + self.logtext())
            # the log line, not a probe connection (which would be audited)
            if self.logtext().count("listening on") > seen:
                return self
            time.sleep(0.02)
        raise AssertionError("ctfs-keyd did not listen: " + self.logtext())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def logtext(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def set_revoked(self, rev):
        with open(self.revoked, "w") as f:
            json.dump(rev, f)

    def hup(self):
        n = self.logtext().count("SIGHUP")
        self.proc.send_signal(signal.SIGHUP)
        end = time.monotonic() + 5
        while self.logtext().count("SIGHUP") == n and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(0.05)

    def records(self):
        if not os.path.exists(self.audit):
            return []
        with open(self.audit) as f:
            return [json.loads(line) for line in f]

    def tls(self, cert, key, timeout=10):
        """A raw TLS connection with a client certificate."""
        ctx = ssl.create_default_context(cafile=self.pki.ca)
        if cert:
            ctx.load_cert_chain(cert, key)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return ctx.wrap_socket(s, server_hostname="127.0.0.1")

    def post(self, cert, key, body, path="/v1/release", method="POST", headers=None):
        """-> (status, parsed JSON body)"""
        if isinstance(body, str):
            body = body.encode()
        h = {"Content-Length": str(len(body))} if headers is None else headers
        head = "%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (
            method, path, "".join("%s: %s\r\n" % kv for kv in h.items()))
        with self.tls(cert, key) as s:
            s.sendall(head.encode() + body)
            return read_answer(s)


def read_answer(s):
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ssl.SSLError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, (json.loads(body) if body else None)


def request_body(model, kid, fleet="f1", file_size=None, header=None):
    import base64
    with open(model, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    hdr = data[:8 + n] if header is None else header
    return json.dumps({"v": 1, "kid": kid, "fleet": fleet,
                       "file_size": len(data) if file_size is None else file_size,
                       "header": base64.b64encode(hdr).decode()})


def proc_key_line(serial):
    """The /proc/keys line of a key (its 4th field is the expiry)."""
    want = "%08x" % int(serial)
    with open("/proc/keys") as f:
        for line in f:
            if line.split()[0] == want:
                return line
    return None


# --- fixtures (imported by the test modules) ---------------------------------------

@pytest.fixture
def bed(tmp_path, tool):
    need(shutil.which("openssl") is not None, "openssl missing")
    pki = PKI(str(tmp_path / "pki"))
    models = Models(tool, str(tmp_path))
    services = []

    class Bed:
        pass

    b = Bed()
    b.pki, b.models, b.tmp = pki, models, tmp_path
    b.m1 = pki.issue("m1", "/O=acme/CN=m1", "DNS:m1.acme.test")
    b.m2 = pki.issue("m2", "/O=acme/CN=m2", "DNS:m2.acme.test")
    b.keys, b.enc = models.keyset("kA")
    b.model, b.plain = models.model("a", b.keys)

    def start(*extra, env=None, name=None):
        d = tmp_path / name if name else tmp_path
        d.mkdir(exist_ok=True)
        k = Keyd(binary("ctfs-keyd"), pki, models, str(d), extra, env)
        services.append(k)
        return k.start()
    b.start = start
    yield b
    for k in services:
        k.stop()


@pytest.fixture
def request_key_conf(tmp_path):
    """A request-key.d entry of this test's own, for kids kt<nonce>-*, that runs
    the ctfs-tool of this build; removed whatever happens."""
    need(os.path.isdir("/etc/request-key.d") and shutil.which("request-key") or
         os.path.exists("/sbin/request-key"), "request-key(8) (package keyutils) missing")
    need(os.geteuid() == 0, "writing /etc/request-key.d needs root")
    nonce = "kt%d%d" % (os.getpid(), time.monotonic_ns() % 100000)
    path = "/etc/request-key.d/ctfs-test-%s.conf" % nonce
    with open(path, "w") as f:
        f.write("create user ctfs:%s-* ctfs1* %s key fetch --request-key %%k %%d %%c %%u %%g\n" % (
            nonce, binary("ctfs-tool")))
    yield nonce
    os.unlink(path)




SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


class SoftHSM:
    """A real SoftHSM2 token initialised in the test's own directory."""

    def __init__(self, d, label="ctfs", pin="4711"):
        os.makedirs(os.path.join(d, "tokens"), mode=0o700)
        self.conf = os.path.join(d, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\n" % d)
        self.env = dict(os.environ, SOFTHSM2_CONF=self.conf)
        self.label, self.tokens = label, os.path.join(d, "tokens")
        self.pin_file = os.path.join(d, "pin")
        fd = os.open(self.pin_file, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, pin.encode() + b"\n")
        os.close(fd)
        run("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
            "--so-pin", "123456", env=self.env)

    def args(self):
        return ["--pkcs11-module", SOFTHSM_MODULE, "--pkcs11-token", self.label,
                "--pkcs11-pin-file", self.pin_file]
