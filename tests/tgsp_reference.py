"""An independent TGSP v1.0 reader and writer for the tests, written from
FORMATS.md section 3 alone and sharing nothing with src/: Python's
cryptography package for X25519, Ed25519 and ChaCha20-Poly1305, hashlib,
zlib and tarfile from the standard library, and @noble/post-quantum (run by
node) for ML-KEM-768 and ML-DSA-65.

The post-quantum parts are reached through two batch functions, the
fixtures noble and noble_dsa of tests/test_pq_noble.py: kem(ops) for
ML-KEM-768 (keygen / encaps / decaps) and dsa(ops) for ML-DSA-65 (keygen /
sign / verify), each taking and returning lists of dicts of hex strings.

The writer builds packages in steps (sections(), sign(), assemble()) so that
tests can change any part between them and still sign the result, as a
trusted but faulty or malicious packager would."""

import gzip
import hashlib
import io
import json
import tarfile
import zlib

import ctfs_seed

from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)
from cryptography.hazmat.primitives.asymmetric.x25519 import (X25519PrivateKey,
                                                              X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization
from cryptography.exceptions import InvalidSignature, InvalidTag

MAGIC = b"TGSP\x01\x00"
FRAME = 4 * 1024 * 1024
SIG_ALG = "Hybrid-Dilithium-v1"
KEM_ALG = "Hybrid-Kyber-v1"
SECTIONS = (("header", 4), ("manifest", 4), ("recipients", 4), ("payload", 8),
            ("signature", 4))


class TgspError(Exception):
    """A refused package; check names the failed check."""

    def __init__(self, check, msg):
        super().__init__("%s: %s" % (check, msg))
        self.check = check


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


def _raw(key):
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- keys -------------------------------------------------------------------

def keygen_signing(dsa):
    seed = ctfs_seed.randbytes(32)
    k = dsa([{"op": "keygen"}])[0]
    pub = {"classic": _raw(Ed25519PrivateKey.from_private_bytes(seed).public_key()).hex(),
           "pqc": k["pk"], "alg": SIG_ALG}
    priv = {"classic": seed.hex(), "pqc": k["sk"], "alg": SIG_ALG}
    return pub, priv


def keygen_encryption(kem):
    x = X25519PrivateKey.generate()
    k = kem([{"op": "keygen"}])[0]
    xs = x.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                         serialization.NoEncryption())
    pub = {"classic": _raw(x.public_key()).hex(), "pqc": k["pk"], "alg": KEM_ALG}
    priv = {"classic": xs.hex(), "pqc": k["sk"], "alg": KEM_ALG}
    return pub, priv


def key_file_bytes(key):
    """The layout of the reference platform's key files."""
    return json.dumps({"classic": key["classic"], "pqc": key["pqc"], "alg": key["alg"]},
                      separators=(",", ":")).encode()


# --- reading ------------------------------------------------------------------

def split(data):
    """The five sections as bytes; TgspError("structure") otherwise."""
    if data[:6] != MAGIC:
        raise TgspError("structure", "bad magic")
    pos, out = 6, {}
    for name, width in SECTIONS:
        if len(data) - pos < width:
            raise TgspError("structure", "truncated before the %s length" % name)
        n = int.from_bytes(data[pos:pos + width], "big")
        pos += width
        if n > len(data) - pos:
            raise TgspError("structure", "%s runs past the end" % name)
        out[name] = data[pos:pos + n]
        pos += n
    if pos != len(data):
        raise TgspError("structure", "trailing bytes")
    return out


def _json(sec, name):
    try:
        obj = json.loads(sec[name].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise TgspError("structure", "%s is not JSON: %s" % (name, e))
    if canonical(obj) != sec[name]:
        raise TgspError("structure", "%s is not canonical JSON" % name)
    return obj


def verify_signature(sec, trusted, dsa):
    """Both signatures by one of the trusted signer public keys."""
    sig = _json(sec, "signature")["signature"]
    msg = sec["header"] + sec["manifest"] + sec["recipients"]
    for pub in trusted:
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(pub["classic"])).verify(
                bytes.fromhex(sig["sig_classic"]), msg)
        except InvalidSignature:
            continue
        ok = dsa([{"op": "verify", "pk": pub["pqc"], "msg": msg.hex(),
                   "sig": sig["sig_pqc"]}])[0]["ok"]
        if ok:
            return pub
    raise TgspError("signature", "no trusted signer verifies both signatures")


def policy_check(manifest, fleet, now):
    pc = manifest.get("policy_constraints") or {}
    nb, na, tf = pc.get("not_before"), pc.get("not_after"), pc.get("target_fleet")
    if nb is not None and now < nb:
        raise TgspError("policy", "not valid yet")
    if na is not None and now > na:
        raise TgspError("policy", "expired")
    if tf and tf != fleet:
        raise TgspError("policy", "for fleet %r" % tf)


def unwrap_dek(recipients, keys, kem):
    """The DEK from the first block that one of the secret keys opens."""
    for r in recipients:
        for k in keys:
            ss_c = X25519PrivateKey.from_private_bytes(bytes.fromhex(k["classic"])).exchange(
                X25519PublicKey.from_public_bytes(bytes.fromhex(r["encap"]["ek_classic"])))
            ss_pq = bytes.fromhex(kem([{"op": "decaps", "sk": k["pqc"],
                                        "ct": r["encap"]["ct_pqc"]}])[0]["ss"])
            kek = hashlib.sha256(ss_c + ss_pq).digest()
            try:
                return ChaCha20Poly1305(kek).decrypt(bytes.fromhex(r["wrapper"]["nonce"]),
                                                     bytes.fromhex(r["wrapper"]["ct"]), None)
            except InvalidTag:
                continue
    raise TgspError("recipient key", "no key opens a recipient block")


def frame_nonce(nonce_base, i):
    return hashlib.sha256(nonce_base + i.to_bytes(8, "big")).digest()[:12]


def frame_aad(header, i):
    h = header["hashes"]
    return (h["manifest"] + h["recipients"]).encode("ascii") + i.to_bytes(8, "big")


def decrypt_payload(header, payload, dek):
    nonce_base = bytes.fromhex(header["crypto"]["nonce_base"])
    aead, pos, i, out = ChaCha20Poly1305(dek), 0, 0, []
    while pos < len(payload):
        n = int.from_bytes(payload[pos:pos + 4], "big")
        if not 0 < n <= FRAME or pos + 4 + n + 16 > len(payload):
            raise TgspError("frames", "frame %d has a bad length" % i)
        if n < FRAME and pos + 4 + n + 16 != len(payload):
            raise TgspError("frames", "short frame %d is not the last" % i)
        try:
            out.append(aead.decrypt(frame_nonce(nonce_base, i), payload[pos + 4:pos + 20 + n],
                                    frame_aad(header, i)))
        except InvalidTag:
            raise TgspError("frame", "frame %d: bad tag" % i)
        pos += 4 + n + 16
        i += 1
    return b"".join(out)


def read(data, trusted, keys, kem, dsa, fleet=None, now=None):
    """Every check in order; (manifest, {path: bytes}, gzip bytes)."""
    sec = split(data)
    header = _json(sec, "header")
    hashes = header["hashes"]
    if sha256_hex(sec["manifest"]) != hashes["manifest"]:
        raise TgspError("manifest hash", "mismatch")
    if sha256_hex(sec["recipients"]) != hashes["recipients"]:
        raise TgspError("recipients hash", "mismatch")
    verify_signature(sec, trusted, dsa)
    if sha256_hex(sec["payload"]) != hashes["payload"]:
        raise TgspError("payload hash", "mismatch")
    manifest = _json(sec, "manifest")
    if now is not None:
        policy_check(manifest, fleet, now)
    dek = unwrap_dek(_json(sec, "recipients"), keys, kem)
    gz = decrypt_payload(header, sec["payload"], dek)
    try:
        tar = gzip.decompress(gz)
        members = {}
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as tf:
            for m in tf.getmembers():
                if m.isfile():
                    members[m.name] = tf.extractfile(m).read()
    except (OSError, EOFError, zlib.error, tarfile.TarError) as e:
        raise TgspError("archive", str(e))
    return manifest, members, gz


# --- writing --------------------------------------------------------------------

def make_tar(files):
    """files: {path: bytes} -> the deterministic archive (sorted, root-owned,
    mtime 0, mode 644; paths ending in '*' are mode 755, the '*' dropped)."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path in sorted(files, key=lambda p: p.rstrip("*").encode()):
            data = files[path]
            ti = tarfile.TarInfo(path.rstrip("*"))
            ti.size, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = len(data), 0, 0, 0, "", ""
            ti.mode = 0o755 if path.endswith("*") else 0o644
            tf.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def make_gzip(tar):
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(tar) + c.flush()


def encrypt_frames(gz, dek, nonce_base, header_hashes, frame_size=FRAME):
    aead, out = ChaCha20Poly1305(dek), []
    hdr = {"hashes": header_hashes}
    for i, pos in enumerate(range(0, len(gz), frame_size)):
        chunk = gz[pos:pos + frame_size]
        ct = aead.encrypt(frame_nonce(nonce_base, i), chunk, frame_aad(hdr, i))
        out.append(len(chunk).to_bytes(4, "big") + ct)
    return out


def wrap_dek(dek, pub, recipient_id, kem):
    eph = X25519PrivateKey.generate()
    ss_c = eph.exchange(X25519PublicKey.from_public_bytes(bytes.fromhex(pub["classic"])))
    e = kem([{"op": "encaps", "pk": pub["pqc"]}])[0]
    kek = hashlib.sha256(ss_c + bytes.fromhex(e["ss"])).digest()
    nonce = ctfs_seed.randbytes(12)
    return {"recipient_id": recipient_id,
            "encap": {"ek_classic": _raw(eph.public_key()).hex(), "ct_pqc": e["ct"]},
            "wrapper": {"nonce": nonce.hex(),
                        "ct": ChaCha20Poly1305(kek).encrypt(nonce, dek, None).hex()}}


def manifest_for(signer_pub, policy=None, name="ref-model", **extra):
    m = {"package_id": ctfs_seed.randbytes(8).hex(), "model_name": name, "model_version": "1.0.0",
         "author_id": "tgsp_reference", "created_at": 1795250496.5,
         "policy_constraints": policy or {}, "content_index": [], "build_info": {},
         "compat_base_model_id": [], "payload_hash": "pending",
         "producer_pubkey_ed25519": None, "tgsp_version": "1.0",
         "author_pubkey": {"classic": signer_pub["classic"], "pqc": signer_pub["pqc"],
                           "alg": SIG_ALG}}
    m.update(extra)
    return m


def sections(files, signer_pub, recipients, kem, policy=None, manifest=None, tar=None,
             gz=None, frame_hook=None):
    """Every section but the signature. recipients: [(id, public key)].
    tar / gz replace the archive or its compression; frame_hook(list of
    frames) may change the encrypted frames before they are hashed."""
    dek, nonce_base = ctfs_seed.randbytes(32), ctfs_seed.randbytes(12)
    man = canonical(manifest if manifest is not None else manifest_for(signer_pub, policy))
    rcp = canonical([wrap_dek(dek, pub, rid, kem) for rid, pub in recipients])
    hashes = {"manifest": sha256_hex(man), "recipients": sha256_hex(rcp)}
    if gz is None:
        gz = make_gzip(tar if tar is not None else make_tar(files))
    frames = encrypt_frames(gz, dek, nonce_base, hashes)
    if frame_hook:
        frames = frame_hook(frames)
    payload = b"".join(frames)
    hashes["payload"] = sha256_hex(payload)
    header = canonical({"tgsp_version": "1.0", "hashes": hashes,
                        "crypto": {"nonce_base": nonce_base.hex(), "alg": "CHACHA20_POLY1305",
                                   "kem": KEM_ALG, "sig": SIG_ALG}})
    return {"header": header, "manifest": man, "recipients": rcp, "payload": payload}


def sign(sec, signer_priv, dsa, key_id="key_1"):
    msg = sec["header"] + sec["manifest"] + sec["recipients"]
    ed = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(signer_priv["classic"])).sign(msg)
    pq = dsa([{"op": "sign", "msg": msg.hex(), "sk": signer_priv["pqc"]}])[0]["sig"]
    sec["signature"] = canonical({"key_id": key_id,
                                  "signature": {"sig_classic": ed.hex(), "sig_pqc": pq}})
    return sec


def assemble(sec):
    out = [MAGIC]
    for name, width in SECTIONS:
        out.append(len(sec[name]).to_bytes(width, "big"))
        out.append(sec[name])
    return b"".join(out)


def write(files, signer_pub, signer_priv, recipients, kem, dsa, key_id="key_1", **kw):
    return assemble(sign(sections(files, signer_pub, recipients, kem, **kw), signer_priv, dsa,
                         key_id))
