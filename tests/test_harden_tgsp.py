"""Issue 9, findings 5 and 7: `ctfs-tool tgsp open --out` never creates a
link that resolves outside the output tree (even through another extracted
link), and TGSP decompression is bounded: trailing zeros after the tar end
marker, link targets of 1 MB and a decompression bomb are refused, each with
its reason. Packages are crafted with the independent writer
(tgsp_reference.py), signed by a trusted key, so only the new bounds stop them."""

import io
import os
import tarfile
import zlib

import tgsp_reference as ref
# the signer/recipient keys and the JS runners, shared with test_tgsp
from test_tgsp import keys, pq  # noqa: F401
from test_pq_noble import noble_pkg, noble, noble_dsa  # noqa: F401

MiB = 1024 * 1024


def tar_of(members):
    """members: [(name, kind, data or link target)] -> pax tar bytes."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, val in members:
            ti = tarfile.TarInfo(name)
            if kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, val
                tf.addfile(ti)
            elif kind == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            else:
                ti.size = len(val)
                tf.addfile(ti, io.BytesIO(val))
    return bio.getvalue()


def package(tmp_path, name, keys, pq, **kw):
    kem, dsa = pq
    pkg = tmp_path / (name + ".tgsp")
    pkg.write_bytes(ref.write({}, keys.spub, keys.spriv, [("me", keys.epub)], kem, dsa, **kw))
    return pkg


def open_out(tool, keys, pkg, out):
    return tool("tgsp", "open", pkg, "--key", keys.path("epriv"), "--trust",
                keys.path("spub"), "--out", out, check=False)


def links_under(root):
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            if os.path.islink(p):
                yield p


def test_link_through_an_extracted_link_is_refused(tmp_path, tool, keys, pq):  # noqa: F811
    # The attack of the finding (h/s leads out; h/t's text stays in but goes
    # through s), the same with s -> .. (s itself inside, t out through it),
    # and links through links that stay inside, which are kept.
    members = [("h", "d", None), ("h/s", "l", "../../.."), ("h/t", "l", "s/../../etc/passwd"),
               ("g", "d", None), ("g/s", "l", ".."), ("g/t", "l", "s/../../etc/passwd"),
               ("g/u", "l", "s/h/../../../x"),
               ("a", "d", None), ("a/file", "f", b"data"), ("lib", "l", "a"),
               ("x", "l", "lib/file"), ("loop1", "l", "loop2"), ("loop2", "l", "loop1/z")]
    pkg = package(tmp_path, "links", keys, pq, tar=tar_of(members))
    out = tmp_path / "a1" / "a2" / "out"
    out.parent.mkdir(parents=True)
    p = open_out(tool, keys, pkg, out)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    for refused in ("h/s", "h/t", "g/t", "g/u", "loop1", "loop2"):
        assert "refused symbolic link %s " % refused in err, (refused, err)
        assert not os.path.lexists(out / refused), refused
    assert "6 symbolic link(s) refused" in err, err
    # kept: g/s (-> the root), lib, x; each resolves inside the tree
    assert os.readlink(out / "g" / "s") == ".."
    assert (out / "x").read_bytes() == b"data"
    real_out = os.path.realpath(out)
    for link in links_under(out):
        real = os.path.realpath(link)
        assert real == real_out or real.startswith(real_out + os.sep), (link, real)


def test_link_target_through_existing_link_in_out_dir(tmp_path, tool, keys, pq):  # noqa: F811
    # a link already in the output directory counts as well
    out = tmp_path / "out"
    out.mkdir()
    os.symlink("/", out / "pre")
    pkg = package(tmp_path, "pre", keys, pq, tar=tar_of([("t", "l", "pre/etc/passwd")]))
    p = open_out(tool, keys, pkg, out)
    assert p.returncode == 0 and b"refused symbolic link t " in p.stderr, p.stderr
    assert not os.path.lexists(out / "t")


def test_zeros_after_the_end_marker_are_refused(tmp_path, tool, keys, pq):  # noqa: F811
    # 256 MiB of zeros after the end marker (about 250 KiB compressed)
    tar = tar_of([("f", "f", b"x")])
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    gz = c.compress(tar) + b"".join(c.compress(bytes(MiB)) for _ in range(256)) + c.flush()
    pkg = package(tmp_path, "zeros", keys, pq, gz=gz)
    p = open_out(tool, keys, pkg, tmp_path / "out")
    assert p.returncode == 1, p.stderr
    assert b"more than 64 KiB after the end-of-archive marker" in p.stderr, p.stderr
    assert not (tmp_path / "out" / "f").exists()


class GzipWriter:
    """A file object that gzips what tarfile writes, without holding the tar."""

    def __init__(self, level=1):
        self.c = zlib.compressobj(level, zlib.DEFLATED, 31)
        self.parts = []

    def write(self, b):
        self.parts.append(self.c.compress(b))
        return len(b)

    def tell(self):
        return 0

    def done(self):
        self.parts.append(self.c.flush())
        return b"".join(self.parts)


def test_300_links_with_1mb_targets_are_refused(tmp_path, tool, keys, pq):  # noqa: F811
    w = GzipWriter()
    with tarfile.open(fileobj=w, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i in range(300):
            ti = tarfile.TarInfo("l%03d" % i)
            ti.type, ti.linkname = tarfile.SYMTYPE, "a" * 1000000
            tf.addfile(ti)
    pkg = package(tmp_path, "longlinks", keys, pq, gz=w.done())
    p = open_out(tool, keys, pkg, tmp_path / "out")
    assert p.returncode == 1, p.stderr
    assert b"link target over 4095 bytes" in p.stderr, p.stderr


def test_decompression_bomb_is_refused(tmp_path, tool, keys, pq):  # noqa: F811
    # one member of 320 MiB of zeros: about 1000:1, over the 256:1 bound
    w = GzipWriter(6)
    with tarfile.open(fileobj=w, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("zeros.bin")
        ti.size = 320 * MiB

        class Zeros:
            def read(self, n=-1):
                return bytes(n)
        tf.addfile(ti, Zeros())
    pkg = package(tmp_path, "bomb", keys, pq, gz=w.done())
    p = open_out(tool, keys, pkg, tmp_path / "out")
    assert p.returncode == 1, p.stderr
    assert b"a decompression bomb" in p.stderr, p.stderr
    assert not (tmp_path / "out" / "zeros.bin").exists()


def test_ordinary_package_within_the_bounds(tmp_path, tool, keys, pq):  # noqa: F811
    # compressible but ordinary content (64 MiB of zeros is under the floor)
    tar = tar_of([("sub", "d", None), ("sub/zeros", "f", bytes(60 * MiB)),
                  ("sub/link", "l", "zeros")])
    pkg = package(tmp_path, "ok", keys, pq, tar=tar)
    p = open_out(tool, keys, pkg, tmp_path / "out")
    assert p.returncode == 0, p.stderr
    assert os.path.getsize(tmp_path / "out" / "sub" / "link") == 60 * MiB
