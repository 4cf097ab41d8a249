"""Independent reference reader for CryptoTensors files (FORMATS.md section 2).

Written from the format description only, in plain Python with the
`cryptography` package, so that files written by ctfs-tool can be checked by
code that shares nothing with the C implementation: it re-serialises the
header canonically, verifies the Ed25519 signature, unwraps every DEK and
decrypts every tensor (v1 monolithic and v2 chunked).

Command line: python3 ct_reference.py FILE KEYS.json  -> "name sha256" lines.
"""

import base64
import hashlib
import json
import struct
import sys

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

MAX_HEADER = 100_000_000
DEFAULT_CHUNK = 2097152
NONCE = 12
TAG = 16
KEY_LEN = {"aes128gcm": 16, "aes256gcm": 32, "chacha20poly1305": 32}
CRYPTO_KEYS = ("__crypto_keys__", "__encryption__", "__signature__", "__policy__")


class FormatError(Exception):
    pass


def _no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise FormatError("duplicate key %r" % k)
        seen[k] = v
    return seen


def b64(s):
    """Standard or URL-safe base64, padding optional."""
    if not isinstance(s, str):
        raise FormatError("base64 value is not a string")
    s = s.replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except Exception as e:
        raise FormatError("bad base64: %s" % e)


def b64_strict(s):
    """What the header must hold: standard base64 with padding."""
    if not isinstance(s, str):
        raise FormatError("base64 value is not a string")
    try:
        out = base64.b64decode(s, validate=True)
    except Exception as e:
        raise FormatError("bad base64 %r: %s" % (s, e))
    if base64.b64encode(out).decode() != s:
        raise FormatError("non-canonical base64 %r" % s)
    return out


# --- canonical serialisation (what is signed) ---------------------------------

_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
        "\r": "\\r", "\t": "\\t"}


def jstr(s):
    out = ['"']
    for ch in s:
        if ch in _ESC:
            out.append(_ESC[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def tensor_json(t):
    return '{"dtype":%s,"shape":[%s],"data_offsets":[%d,%d]}' % (
        jstr(t["dtype"]), ",".join("%d" % d for d in t["shape"]),
        t["data_offsets"][0], t["data_offsets"][1])


def ordered_tensors(header):
    items = [(k, v) for k, v in header.items() if k != "__metadata__"]
    # sorted() is stable: equal offsets keep their order in the file
    return sorted(items, key=lambda kv: tuple(kv[1]["data_offsets"]))


def canonical(header, omit=("__signature__",)):
    parts = []
    if "__metadata__" in header:
        meta = header["__metadata__"]
        keys = sorted((k for k in meta if k not in omit),
                      key=lambda k: k.encode("utf-8"))
        parts.append('"__metadata__":{%s}' % ",".join(
            "%s:%s" % (jstr(k), jstr(meta[k])) for k in keys))
    for name, t in ordered_tensors(header):
        parts.append("%s:%s" % (jstr(name), tensor_json(t)))
    return ("{" + ",".join(parts) + "}").encode("utf-8")


# --- safetensors layer ---------------------------------------------------------

DTYPE_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
              "F8_E8M0": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4,
              "U32": 4, "F32": 4, "C64": 8, "F64": 8, "I64": 8, "U64": 8}


def read_header(data):
    if len(data) < 8:
        raise FormatError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise FormatError("bad header length %d" % n)
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"),
                            object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError("header is not JSON: %s" % e)
    if not isinstance(header, dict):
        raise FormatError("header is not an object")
    meta = header.get("__metadata__")
    if meta is not None and (not isinstance(meta, dict) or
                             not all(isinstance(v, str) for v in meta.values())):
        raise FormatError("__metadata__ is not an object of strings")
    pos = 0
    for name, t in ordered_tensors(header):
        b, e = t["data_offsets"]
        size = DTYPE_SIZE[t["dtype"]]
        for d in t["shape"]:
            size *= d
        if b != pos or e < b or e - b != size:
            raise FormatError("tensor %r: bad data_offsets" % name)
        pos = e
    if 8 + n + pos != len(data):
        raise FormatError("data length does not match the header")
    return header, 8 + n


# --- keys ----------------------------------------------------------------------

def load_keys(path):
    with open(path) as f:
        doc = json.load(f)
    return doc["keys"] if "keys" in doc else [doc]


def find_key(keys, kty, kid):
    for k in keys:
        if k.get("kty", "").lower() == kty and (kid is None or k.get("kid") == kid):
            return k
    raise FormatError("no %s key with kid %r" % (kty, kid))


def norm_alg(alg):
    return alg.lower().replace("-", "")


def aead(alg, key):
    alg = norm_alg(alg)
    if alg not in KEY_LEN:
        raise FormatError("unknown algorithm %r" % alg)
    if len(key) != KEY_LEN[alg]:
        raise FormatError("key length %d does not fit %s" % (len(key), alg))
    return ChaCha20Poly1305(key) if alg == "chacha20poly1305" else AESGCM(key)


def chunk_nonce(base, i):
    (ctr,) = struct.unpack(">I", base[8:12])
    if ctr + i > 0xFFFFFFFF:
        raise FormatError("chunk counter overflows")
    return base[:8] + struct.pack(">I", ctr + i)


# --- the CryptoTensors layer -------------------------------------------------------

def parse_crypto(header):
    meta = header.get("__metadata__") or {}
    if "__encryption__" not in meta:
        return None
    for k in CRYPTO_KEYS:
        if k not in meta:
            raise FormatError("encrypted file without %s" % k)
    ck = json.loads(meta["__crypto_keys__"], object_pairs_hook=_no_duplicates)
    enc = json.loads(meta["__encryption__"], object_pairs_hook=_no_duplicates)
    policy = json.loads(meta["__policy__"], object_pairs_hook=_no_duplicates)
    version = ck.get("version")
    if version not in ("1", "2"):
        raise FormatError("unsupported version %r" % version)
    chunk = None
    if version == "2":
        chunk = ck.get("chunk_size", DEFAULT_CHUNK)
        if type(chunk) is not int or chunk <= 0:
            raise FormatError("bad chunk_size %r" % chunk)
    if ck["sign"]["alg"].lower() != "ed25519":
        raise FormatError("unsupported signature algorithm")
    return {"version": version, "chunk_size": chunk, "enc": ck["enc"],
            "sign": ck["sign"], "entries": enc, "policy": policy,
            "signature": b64_strict(meta["__signature__"])}


def verify_signature(header, info, keys):
    k = find_key(keys, "okp", info["sign"].get("kid"))
    pub = Ed25519PublicKey.from_public_bytes(b64(k["x"]))
    try:
        pub.verify(info["signature"], canonical(header))
    except InvalidSignature:
        raise FormatError("signature does not verify")


def decrypt_tensor(info, entry, master, ciphertext):
    alg = info["enc"]["alg"]
    wrap = aead(alg, master)
    try:
        dek = wrap.decrypt(b64_strict(entry["key_iv"]),
                           b64_strict(entry["wrapped_key"]) + b64_strict(entry["key_tag"]),
                           None)
    except InvalidTag:
        raise FormatError("DEK does not unwrap")
    cipher = aead(alg, dek)
    if info["version"] == "1":
        iv, tag = b64_strict(entry["iv"]), b64_strict(entry["tag"])
        if not ciphertext:
            if iv or tag:
                raise FormatError("empty v1 tensor with iv/tag")
            return b""
        if len(iv) != NONCE or len(tag) != TAG:
            raise FormatError("bad v1 iv/tag length")
        return cipher.decrypt(iv, ciphertext + tag, None)
    base = b64_strict(entry["base_iv"])
    tags = b64_strict(entry["tags"])
    if len(base) != NONCE:
        raise FormatError("bad base_iv length")
    cs = info["chunk_size"]
    n = max(1, -(-len(ciphertext) // cs))
    if len(tags) != n * TAG:
        raise FormatError("expected %d tags, found %d bytes" % (n, len(tags)))
    out = []
    for i in range(n):
        piece = ciphertext[i * cs:(i + 1) * cs]
        try:
            out.append(cipher.decrypt(chunk_nonce(base, i),
                                      piece + tags[i * TAG:(i + 1) * TAG], None))
        except InvalidTag:
            raise FormatError("chunk %d does not verify" % i)
    return b"".join(out)


def decrypt_file(path, keys):
    """Verify and decrypt; returns (header, info, {name: (dtype, shape, bytes)})."""
    with open(path, "rb") as f:
        data = f.read()
    header, start = read_header(data)
    info = parse_crypto(header)
    out = {}
    master = None
    if info is not None:
        verify_signature(header, info, keys)
        names = set(k for k in header if k != "__metadata__")
        for name in info["entries"]:
            if name not in names:
                raise FormatError("__encryption__ names unknown tensor %r" % name)
        master = b64(find_key(keys, "oct", info["enc"].get("kid"))["k"])
    for name, t in ordered_tensors(header):
        b, e = t["data_offsets"]
        raw = data[start + b:start + e]
        if info is not None and name in info["entries"]:
            raw = decrypt_tensor(info, info["entries"][name], master, raw)
        out[name] = (t["dtype"], t["shape"], raw)
    return header, info, out


def main(argv):
    _, _, tensors = decrypt_file(argv[1], load_keys(argv[2]) if len(argv) > 2 else [])
    for name, (_, _, raw) in tensors.items():
        print(name, hashlib.sha256(raw).hexdigest())


if __name__ == "__main__":
    main(sys.argv)
