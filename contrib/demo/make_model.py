"""Write a small Hugging Face style model (safetensors + config) to a folder."""
import json
import struct
import sys

import numpy as np


def save(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dtype = {"float32": "F32", "float16": "F16", "int64": "I64"}[str(a.dtype)]
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


out = sys.argv[1]
rng = np.random.default_rng(7)
layers = {}
for i in range(4):
    layers["model.layers.%d.attn.weight" % i] = rng.standard_normal((256, 256), dtype=np.float32)
    layers["model.layers.%d.mlp.weight" % i] = rng.standard_normal((256, 1024)).astype(np.float16)
layers["model.embed.weight"] = rng.standard_normal((1000, 256), dtype=np.float32)
layers["model.step"] = np.array([42], dtype=np.int64)
save(out + "/model.safetensors", layers, {"format": "pt"})
with open(out + "/config.json", "w") as f:
    json.dump({"model_type": "demo", "hidden_size": 256, "num_layers": 4}, f)
