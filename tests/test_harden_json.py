"""Issue 9, finding 9: a signed file whose __policy__ holds two "local"
policies (allow first, deny second) was served: cJSON keeps the first key,
where most JSON readers (Python's, serde_json's maps) keep the last. Such a
file is now refused at open, whatever the order, with the key named."""

import errno
import os
import shutil

import pytest

import ct_forge

NAME = "v2-aes256-partial.safetensors"
ALLOW = "package model\\nallow = true"
DENY = "package model\\nallow = false"


def forge(src, dst, keys, policy_text):
    hdr, data = ct_forge.split(src)
    hdr["__metadata__"]["__policy__"] = policy_text
    ct_forge.write(dst, hdr, data, keys)


@pytest.mark.parametrize("first,second", [(ALLOW, DENY), (DENY, ALLOW)])
def test_duplicate_policy_key_refused_at_open(tmp_path, tool, keyring, vectors, mount,
                                              first, second):
    keys = os.path.join(vectors, "cryptotensors", "keys-aes256.json")
    src = tmp_path / "src"
    src.mkdir()
    vec = os.path.join(vectors, "cryptotensors", NAME)
    forge(vec, src / NAME, keys, '{"local":"%s","local":"%s","remote":"%s"}'
          % (first, second, ALLOW))
    # control: the same file with one "local" (allow) opens (upstream needs
    # "remote" too)
    forge(vec, src / "control.safetensors", keys, '{"local":"%s","remote":"%s"}'
          % (ALLOW, ALLOW))
    tool("key", "add", "--keyring", keyring, keys)
    m = mount(src, keyring)
    with open(m.file("control.safetensors"), "rb") as f:
        assert len(f.read(1000)) == 1000
    with pytest.raises(OSError) as e:
        open(m.file(NAME), "rb").read()
    assert e.value.errno in (errno.EBADMSG, errno.EINVAL), e.value
    assert 'duplicate key "local"' in m.log() and NAME in m.log(), m.log()
