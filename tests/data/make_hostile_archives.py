#!/usr/bin/env python3
"""Writes the archives the unpacker's unit tests throw at it (tests/unit/test_bundle_unpack.c).

usage: make_hostile_archives.py OUTDIR SANDBOX [--big]

SANDBOX is the absolute path of the test's sandbox: archives that attack with absolute paths
aim inside it (SANDBOX/evil-*), so a failure shows up in the test's listing of the sandbox
instead of polluting the machine. The test unpacks each archive into SANDBOX/work/dest-NAME,
so "../../x" aims at SANDBOX/x. --big also writes the large ones (200,000 entries, a 1 GiB zip
bomb, 300 one-MiB bombs in one zip, a 1 GiB tar.gz bomb), assembled from repeated compressed
blocks so that generation takes about a second and little disk.
"""
import gzip
import io
import os
import stat
import struct
import sys
import tarfile
import time
import zipfile
import zlib

MTIME = 1700000000


def tar_gz(path, members):
    """members: list of (TarInfo, bytes or None)."""
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            info.mtime = MTIME
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)


def reg(name, data=b"x\n", mode=0o644):
    i = tarfile.TarInfo(name)
    i.type = tarfile.REGTYPE
    i.mode = mode
    return (i, data)


def dirent(name, mode=0o755):
    i = tarfile.TarInfo(name)
    i.type = tarfile.DIRTYPE
    i.mode = mode
    return (i, None)


def sym(name, target):
    i = tarfile.TarInfo(name)
    i.type = tarfile.SYMTYPE
    i.linkname = target
    i.mode = 0o777
    return (i, None)


def hard(name, target):
    i = tarfile.TarInfo(name)
    i.type = tarfile.LNKTYPE
    i.linkname = target
    i.mode = 0o644
    return (i, None)


def special(name, kind):
    i = tarfile.TarInfo(name)
    i.type = kind
    i.mode = 0o644
    if kind == tarfile.CHRTYPE:
        i.devmajor, i.devminor = 1, 3
    return (i, None)


def zip_file(path, members):
    """members: list of (name, data, unix mode incl. type bits)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in members:
            zi = zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20))
            zi.create_system = 3  # unix: external attributes carry the mode
            zi.external_attr = (mode & 0xFFFF) << 16
            if stat.S_ISDIR(mode):
                zi.external_attr |= 0x10
            z.writestr(zi, data)


def small(out, sandbox):
    F = stat.S_IFREG
    # zip slip: a path that climbs out of the destination.
    zip_file(f"{out}/zip_slip.zip", [("ok.txt", b"ok\n", F | 0o644),
                                     ("../../evil-slip.txt", b"pwned\n", F | 0o644)])
    # the same in a tar.gz, hidden below a directory.
    tar_gz(f"{out}/tar_slip.tar.gz", [reg("a/b/../../../../evil-slip.txt", b"pwned\n")])
    # an absolute path aimed into the sandbox.
    tar_gz(f"{out}/abs_path.tar.gz", [reg(f"{sandbox}/evil-abs.txt", b"pwned\n")])
    zip_file(f"{out}/abs_path.zip", [(f"{sandbox}/evil-abs.txt", b"pwned\n", F | 0o644)])
    # a symlink that leaves the tree, then a file written through it.
    tar_gz(f"{out}/symlink_escape.tar.gz", [sym("link", "../../outside"),
                                            reg("link/pwned.txt", b"pwned\n")])
    # the same with an absolute target.
    tar_gz(f"{out}/symlink_abs.tar.gz", [sym("link", f"{sandbox}/outside"),
                                         reg("link/pwned.txt", b"pwned\n")])
    # a zip symlink (mode in the external attributes) that leaves the tree.
    zip_file(f"{out}/symlink_escape.zip", [("link", b"../../outside", stat.S_IFLNK | 0o777),
                                           ("link/pwned.txt", b"pwned\n", F | 0o644)])
    # a symlink inside the tree, then a file written through it (stays inside, still refused).
    tar_gz(f"{out}/symlink_write_inside.tar.gz", [dirent("d"), sym("link", "d"),
                                                  reg("link/through.txt", b"x\n")])
    # ".." after a name: lexically inside, but "s" is a link to "." so s/.. is the parent.
    tar_gz(f"{out}/symlink_dotdot_after_name.tar.gz", [sym("s", "."), sym("w", "s/..")])
    # a hardlink to a file outside (relative and absolute).
    tar_gz(f"{out}/hardlink_escape.tar.gz", [hard("hl", "../../outside/secret.txt")])
    tar_gz(f"{out}/hardlink_abs.tar.gz", [hard("hl", f"{sandbox}/outside/secret.txt")])
    # a hardlink to a file the archive has not extracted (yet).
    tar_gz(f"{out}/hardlink_forward.tar.gz", [hard("hl", "later.txt"), reg("later.txt")])
    # a hardlink to a directory inside the tree.
    tar_gz(f"{out}/hardlink_dir.tar.gz", [dirent("d"), hard("hl", "d")])
    # device node and fifo.
    tar_gz(f"{out}/device.tar.gz", [reg("ok.txt"), special("null2", tarfile.CHRTYPE)])
    tar_gz(f"{out}/fifo.tar.gz", [special("pipe", tarfile.FIFOTYPE)])
    # setuid, setgid and sticky bits (neutralised, not refused); group/other write dropped.
    tar_gz(f"{out}/setuid.tar.gz", [reg("README"), dirent("bin", 0o1777),
                                    reg("bin/suid", b"#!/bin/sh\n", 0o4755),
                                    reg("bin/sgid", b"#!/bin/sh\n", 0o2775),
                                    reg("bin/plain", b"data\n", 0o666)])
    # a GitHub-style archive: one top-level directory (stripped), an executable, a link inside.
    zip_file(f"{out}/top_dir.zip", [("proj-1.0/", b"", stat.S_IFDIR | 0o755),
                                    ("proj-1.0/bin/", b"", stat.S_IFDIR | 0o755),
                                    ("proj-1.0/bin/run", b"#!/bin/sh\necho run\n", F | 0o755),
                                    ("proj-1.0/README", b"readme\n", F | 0o644),
                                    ("proj-1.0/node_modules/.bin/cli",
                                     b"../pkg/cli.js", stat.S_IFLNK | 0o777),
                                    ("proj-1.0/node_modules/pkg/cli.js", b"js\n", F | 0o755)])
    tar_gz(f"{out}/top_dir.tar.gz", [dirent("proj-1.0"), reg("proj-1.0/bin/run", b"#!/bin/sh\n", 0o755),
                                     sym("proj-1.0/bin/link", "run"),
                                     hard("proj-1.0/bin/hard", "proj-1.0/bin/run")])
    # a link that is fine before stripping and leaves the tree after it.
    tar_gz(f"{out}/top_dir_link_escape.tar.gz", [dirent("proj"), reg("proj/a"),
                                                 sym("proj/up", "../elsewhere")])
    # two top-level entries: nothing stripped.
    zip_file(f"{out}/no_strip.zip", [("a/x.txt", b"x\n", F | 0o644), ("b.txt", b"b\n", F | 0o644)])
    # a single top-level file: nothing stripped.
    tar_gz(f"{out}/single_file.tar.gz", [reg("only.txt", b"only\n")])
    # an entry below a file.
    tar_gz(f"{out}/parent_is_file.tar.gz", [reg("a"), reg("a/b")])
    # the same file twice.
    tar_gz(f"{out}/duplicate.tar.gz", [reg("x", b"1\n"), reg("x", b"2\n")])
    # caps one past the edge (the test lowers the limits): 10 entries, 1000 bytes.
    zip_file(f"{out}/ten_entries.zip", [(f"f{i}", b"", F | 0o644) for i in range(10)])
    zip_file(f"{out}/bytes_1000.zip", [("a", b"a" * 600, F | 0o644), ("b", b"b" * 400, F | 0o644)])
    # headers that lie: the zip says 1000 bytes, its deflate stream holds 4000.
    lying_size_zip(f"{out}/lying_size.zip", declared=1000, actual=4000)
    # a header declaring one byte more than the default total cap (1 GiB), and no data:
    # refused from the header, before anything is inflated or written.
    over = tarfile.TarInfo("huge.bin")
    over.size = (1 << 30) + 1
    over.mtime = MTIME
    with open(f"{out}/total_over_default.tar.gz", "wb") as f:
        f.write(gzip.compress(over.tobuf(tarfile.GNU_FORMAT), 9, mtime=0))
    # not an archive at all.
    with open(f"{out}/not_an_archive.bin", "wb") as f:
        f.write(b"this is not a zip nor a tar.gz\n" * 20)


def lying_size_zip(path, declared, actual):
    """One deflated entry whose headers declare `declared` bytes but that inflates to `actual`."""
    data = bytes(range(256)) * (actual // 256) + bytes(actual % 256)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = c.compress(data) + c.flush()
    crc = zlib.crc32(data)
    name = b"lying.bin"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(comp),
                            declared, len(name), 0) + name + comp)
        cd_start = f.tell()
        f.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, 8, 0, 0x21, crc,
                            len(comp), declared, len(name), 0, 0, 0, 0, (0o100644 << 16), 0) + name)
        cd_end = f.tell()
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, cd_end - cd_start, cd_start, 0))


def many_entries_zip(path, count):
    """A zip of `count` empty files, written by hand (zipfile is slow at this count)."""
    with open(path, "wb") as f:
        central = []
        for i in range(count):
            name = b"e/%07d" % i
            off = f.tell()
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 10, 0, 0, 0, 0x21, 0, 0, 0,
                                len(name), 0) + name)
            central.append((name, off))
        cd_start = f.tell()
        for name, off in central:
            f.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 10, 0, 0, 0, 0x21,
                                0, 0, 0, len(name), 0, 0, 0, 0, (0o100644 << 16), off) + name)
        cd_end = f.tell()
        n = len(central)
        # zip64 end records: more than 65535 entries.
        f.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 45, 0, 0, n, n,
                            cd_end - cd_start, cd_start))
        f.write(struct.pack("<IIQI", 0x07064B50, 0, cd_end, 1))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                            0xFFFFFFFF, 0))


def zip_bomb(path, size):
    """One entry of `size` zero bytes (about 1 MiB of deflate per GiB). After a full flush a
    deflate stream starts afresh, so the compressed form of one MiB of zeros can be repeated:
    the archive is assembled by hand in well under a second."""
    mib = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    count = size // len(mib)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(mib, crc)
    csize = len(block) * count + len(tail)
    name = b"zeros.bin"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, csize, size,
                            len(name), 0) + name)
        for _ in range(count):
            f.write(block)
        f.write(tail)
        cd_start = f.tell()
        f.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, 8, 0, 0x21, crc,
                            csize, size, len(name), 0, 0, 0, 0, (0o100644 << 16), 0) + name)
        cd_end = f.tell()
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, cd_end - cd_start, cd_start, 0))


def small_bombs_zip(path, count):
    """`count` entries of exactly 1 MiB of zeros each: no entry passes the per-entry floor, the
    archive as a whole expands about 1000x."""
    mib = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = c.compress(mib) + c.flush()
    crc = zlib.crc32(mib)
    with open(path, "wb") as f:
        offsets = []
        for i in range(count):
            name = b"z/%04d.bin" % i
            offsets.append((name, f.tell()))
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(comp),
                                len(mib), len(name), 0) + name + comp)
        cd_start = f.tell()
        for name, off in offsets:
            f.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, 8, 0, 0x21, crc,
                                len(comp), len(mib), len(name), 0, 0, 0, 0, (0o100644 << 16),
                                off) + name)
        cd_end = f.tell()
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, cd_end - cd_start,
                            cd_start, 0))


def tar_gz_bomb(path, size):
    """A tar.gz holding one file of `size` zero bytes. gzip members may be concatenated, so the
    compressed MiB of zeros is written again and again."""
    info = tarfile.TarInfo("zeros.bin")
    info.size = size
    info.mtime = MTIME
    mib = gzip.compress(bytes(1 << 20), 9, mtime=0)
    with open(path, "wb") as f:
        f.write(gzip.compress(info.tobuf(tarfile.GNU_FORMAT), 9, mtime=0))
        for _ in range(size >> 20):
            f.write(mib)
        f.write(gzip.compress(bytes(1024), 9, mtime=0))  # the end-of-archive blocks


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, sandbox = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    small(out, sandbox)
    if "--big" in sys.argv[3:]:
        for name, make in (("many_entries.zip", lambda p: many_entries_zip(p, 200000)),
                           ("entries_100001.zip", lambda p: many_entries_zip(p, 100001)),
                           ("zip_bomb.zip", lambda p: zip_bomb(p, 1 << 30)),
                           ("small_bombs.zip", lambda p: small_bombs_zip(p, 300)),
                           ("tar_gz_bomb.tar.gz", lambda p: tar_gz_bomb(p, 1 << 30))):
            t0 = time.time()
            make(f"{out}/{name}")
            print(f"make_hostile_archives: {name} in {time.time() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
