"""One seed for every randomised Python test, so a failure can be replayed.

The seed is $CTFS_SEED (decimal or 0x hex) or a fresh one; conftest.py
prints it in the report header. Each test draws from its own generator,
rng("label"), derived from the seed and a label, so tests do not disturb
each other's sequences; randbytes() serves helpers (the reference writers).
"""
import os
import random


def _initial():
    v = os.environ.get("CTFS_SEED")
    if v:
        return int(v, 0)
    return random.SystemRandom().randrange(2**63)


SEED = _initial()


def rng(label):
    return random.Random("%d:%s" % (SEED, label))


_shared = rng("shared")


def randbytes(n):
    return _shared.randbytes(n)
