"""Loading safetensors the way frameworks do: parse the header, then map each
tensor's bytes with numpy (mmap) or torch, and check them."""

import hashlib
import json
import struct

import numpy as np

NP_DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16,
             "U16": np.uint16, "F16": np.float16, "BF16": np.uint16, "I32": np.int32,
             "U32": np.uint32, "F32": np.float32, "F64": np.float64, "I64": np.int64,
             "U64": np.uint64, "C64": np.complex64}


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        text = f.read(n)
    return json.loads(text), 8 + n


def load_numpy(path):
    """{name: ndarray} through numpy.memmap, as safetensors' numpy backend does."""
    hdr, start = header(path)
    out = {}
    for name, t in hdr.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        dt = np.dtype(NP_DTYPES[t["dtype"]])
        if e == b:
            out[name] = np.zeros(t["shape"], dtype=dt)
            continue
        out[name] = np.memmap(path, dtype=dt, mode="r", offset=start + b,
                              shape=tuple(t["shape"]))
    return out


def load_torch(path):
    import torch
    tdt = {"BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16,
           "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32,
           "F32": torch.float32, "F64": torch.float64, "I64": torch.int64,
           "C64": torch.complex64}
    hdr, start = header(path)
    with open(path, "rb") as f:
        data = f.read()
    out = {}
    for name, t in hdr.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        buf = bytearray(data[start + b:start + e])
        if not buf:
            out[name] = torch.empty(t["shape"], dtype=tdt[t["dtype"]])
            continue
        out[name] = torch.frombuffer(buf, dtype=tdt[t["dtype"]]).reshape(t["shape"])
    return out


def digests(arrays):
    """{name: sha256 of the tensor's raw bytes}"""
    out = {}
    for name, a in arrays.items():
        if hasattr(a, "numpy"):
            raw = a.contiguous().view(-1).view(__import__("torch").uint8).numpy().tobytes() \
                if a.numel() else b""
        else:
            raw = np.ascontiguousarray(a).tobytes()
        out[name] = hashlib.sha256(raw).hexdigest()
    return out
