"""Making CryptoTensors files that are wrong in one precise way, re-signed
with the vector's signing key so that only the intended check can catch them."""

import base64
import json
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ct_reference as ref


def split(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    hdr = json.loads(data[8:8 + n])
    return hdr, data[8 + n:]


def signing_key(keys_path):
    for k in ref.load_keys(keys_path):
        if k["kty"] == "okp":
            return Ed25519PrivateKey.from_private_bytes(ref.b64(k["d"]))
    raise KeyError("no okp key")


def write(path, hdr, data, keys_path=None):
    """Write hdr + data; re-sign first when keys_path is given."""
    if keys_path:
        sig = signing_key(keys_path).sign(ref.canonical(hdr))
        hdr["__metadata__"]["__signature__"] = base64.b64encode(sig).decode()
    text = ref.canonical(hdr, omit=())
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def mutate_meta(src, dst, keys_path, key, fn):
    """Rewrite one crypto metadata entry (a JSON string) with fn, re-signed."""
    hdr, data = split(src)
    meta = hdr["__metadata__"]
    meta[key] = json.dumps(fn(json.loads(meta[key])), separators=(",", ":"))
    write(dst, hdr, data, keys_path)
