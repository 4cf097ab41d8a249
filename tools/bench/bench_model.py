"""Synthetic models for the benchmark: a decoder-only transformer laid out as
Hugging Face checkpoints are (embedding, per-layer attention and MLP
projections in bf16, norms and biases in f32, final norm, lm_head), sized to
a byte budget, written as plain safetensors.

Tensor contents are pseudo-random bits from a seeded generator: nothing on
the read path (AEAD, FUSE, page cache, loaders) depends on the values, and
random bits keep any compression from flattering a figure."""

import hashlib
import json
import struct

import numpy as np

DTYPE_SIZE = {"F32": 4, "BF16": 2}
BLOCK = 64 << 20            # generation granularity: bounded memory at any size


def _round_up(x, m):
    return (x + m - 1) // m * m


def layer_tensors(i, h, inter, kv):
    p = "model.layers.%d." % i
    return [
        (p + "input_layernorm.weight", "F32", [h]),
        (p + "post_attention_layernorm.weight", "F32", [h]),
        (p + "self_attn.q_proj.weight", "BF16", [h, h]),
        (p + "self_attn.q_proj.bias", "F32", [h]),
        (p + "self_attn.k_proj.weight", "BF16", [kv, h]),
        (p + "self_attn.k_proj.bias", "F32", [kv]),
        (p + "self_attn.v_proj.weight", "BF16", [kv, h]),
        (p + "self_attn.v_proj.bias", "F32", [kv]),
        (p + "self_attn.o_proj.weight", "BF16", [h, h]),
        (p + "mlp.gate_proj.weight", "BF16", [inter, h]),
        (p + "mlp.up_proj.weight", "BF16", [inter, h]),
        (p + "mlp.down_proj.weight", "BF16", [h, inter]),
    ]


def _nbytes(tensors):
    return sum(DTYPE_SIZE[d] * int(np.prod(s)) for _, d, s in tensors)


def _dims(h):
    return _round_up(h * 8 // 3, 256) if h >= 256 else h * 3, max(h // 4, 8)


def transformer(h, vocab, layers):
    inter, kv = _dims(h)
    t = [("model.embed_tokens.weight", "BF16", [vocab, h])]
    for i in range(layers):
        t += layer_tensors(i, h, inter, kv)
    t += [("model.norm.weight", "F32", [h]), ("lm_head.weight", "BF16", [vocab, h])]
    return t


def layout_for_size(target):
    """The widest transformer that still has at least 8 layers within target
    bytes (hidden 4096, a 7B-class shape, from about 4 GiB; hidden 2048 at
    1 GiB), as many layers as fit, and the vocabulary grown to take up the
    rest, so that the file is the size asked for within a few rows."""
    for h in (4096, 2048, 1024, 512, 256, 128, 64):
        for vocab in (32000, 8000, 1000):
            fixed = _nbytes(transformer(h, vocab, 0))
            per_layer = _nbytes(transformer(h, vocab, 1)) - fixed
            if fixed + 8 * per_layer > target:
                continue
            layers = (target - fixed) // per_layer
            vocab += (target - fixed - layers * per_layer) // (2 * h * DTYPE_SIZE["BF16"])
            return transformer(h, vocab, layers), {"hidden": h, "vocab": vocab, "layers": layers}
    return transformer(32, 256, 2), {"hidden": 32, "vocab": 256, "layers": 2}


def many_tensor_layout(count, h):
    """At least count tensors, 12 per layer: what open-to-first-byte pays for
    is the header (per-tensor keys, tags, signature), not the bytes."""
    layers = max(1, (count - 3 + 11) // 12)
    return transformer(h, 1000, layers), {"hidden": h, "vocab": 1000, "layers": layers}


def _ordered(tensors):
    # safetensors writers: descending alignment, then name
    return sorted(tensors, key=lambda t: (-DTYPE_SIZE[t[1]], t[0]))


def write(path, tensors, seed, metadata=None):
    """Write a safetensors file; return a description including the sha256
    of its data region (everything after the header), which a correct view
    reproduces byte for byte."""
    header, off = {"__metadata__": dict(metadata or {"format": "pt"})}, 0
    tensors = _ordered(tensors)
    for name, dtype, shape in tensors:
        n = DTYPE_SIZE[dtype] * int(np.prod(shape))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    rng = np.random.default_rng(seed)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        left = off
        while left:
            n = min(left, BLOCK)
            words = rng.integers(0, 1 << 63, size=(n + 7) // 8, dtype=np.uint64)
            block = memoryview(words).cast("B")[:n]
            digest.update(block)
            f.write(block)
            left -= n
    largest = max(DTYPE_SIZE[d] * int(np.prod(s)) for _, d, s in tensors)
    return {"path": path, "tensors": len(tensors), "data_bytes": off,
            "file_bytes": 8 + len(text) + off, "largest_tensor": largest,
            "data_sha256": digest.hexdigest()}
