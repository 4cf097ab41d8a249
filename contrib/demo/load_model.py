"""Load every tensor of a safetensors file with numpy (memory-mapped, as
frameworks do) and compare it with the original."""
import json
import struct
import sys

import numpy as np

DT = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def load(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    out = {}
    for name, t in header.items():
        if name != "__metadata__":
            b, e = t["data_offsets"]
            out[name] = np.memmap(path, dtype=DT[t["dtype"]], mode="r", offset=8 + n + b,
                                  shape=tuple(t["shape"]))
    return out


mounted, original = load(sys.argv[1]), load(sys.argv[2])
assert mounted.keys() == original.keys()
for name in sorted(mounted):
    assert np.array_equal(mounted[name], original[name]), name
    print("  %-32s %-8s %s" % (name, mounted[name].dtype, tuple(mounted[name].shape)))
print("all %d tensors identical to the original" % len(mounted))
