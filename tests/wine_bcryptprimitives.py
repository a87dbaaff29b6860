"""Write a bcryptprimitives.dll for Wine 8, which has none (the Windows lane).

    python3 tests/wine_bcryptprimitives.py PATH/TO/system32/bcryptprimitives.dll

Programs built with Go 1.22 or newer, rclone.exe among them, load
bcryptprimitives.dll at start-up for its one function ProcessPrng (random
bytes) and stop with "bcryptprimitives.dll not found" where it is missing.
Wine 9 has the DLL; Wine 8, Debian 12's, does not. This writes a DLL with no
code at all: a PE32+ image whose only export, ProcessPrng, is forwarded to
advapi32's SystemFunction036 (RtlGenRandom), which takes the same two
arguments (a buffer and its length) and returns non-zero on success.
Only tests/windows.sh uses it; nothing of the product does.
"""

import struct
import sys

_RVA = 0x1000  # where the one section is mapped
_FILE_ALIGN = 0x200


def forwarder_dll(dll_name, exports):
    """The bytes of an x64 DLL whose exports {name: "dll.Function"} are all
    forwarders."""
    names = sorted(exports)
    n = len(names)
    functions = 40  # after the export directory
    name_pointers = functions + 4 * n
    ordinals = name_pointers + 4 * n
    strings = bytearray()

    def string(text):
        offset = ordinals + 2 * n + len(strings)
        strings.extend(text.encode("ascii") + b"\0")
        return _RVA + offset

    dll = string(dll_name)
    name_rvas = [string(name) for name in names]
    # A function address inside the export data is a forwarder string.
    target_rvas = [string(exports[name]) for name in names]
    section = struct.pack("<IIHHIIIIIII", 0, 0, 0, 0, dll, 1, n, n, _RVA + functions, _RVA + name_pointers,
                          _RVA + ordinals)
    section += b"".join(struct.pack("<I", rva) for rva in target_rvas)
    section += b"".join(struct.pack("<I", rva) for rva in name_rvas)
    section += b"".join(struct.pack("<H", i) for i in range(n))
    section += bytes(strings)
    raw = section + b"\0" * (-len(section) % _FILE_ALIGN)
    image_size = _RVA + -(-len(raw) // 0x1000) * 0x1000

    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, len(dos))  # where the PE header starts
    # Machine x64, one section, a 240-byte optional header; an executable, large-address-aware DLL.
    coff = struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 240, 0x2022)
    optional = struct.pack("<HBBIIIII", 0x20B, 14, 0, 0, len(raw), 0, 0, _RVA)  # no code, no entry point
    optional += struct.pack("<QIIHHHHHHIIIIHHQQQQII", 0x180000000, 0x1000, _FILE_ALIGN, 6, 0, 0, 0, 6, 0, 0,
                            image_size, _FILE_ALIGN, 0, 3, 0x160, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    optional += struct.pack("<II", _RVA, len(section)) + b"\0" * 8 * 15  # the export directory, nothing else
    header = struct.pack("<8sIIIIIIHHI", b".rdata", len(section), _RVA, len(raw), _FILE_ALIGN, 0, 0, 0, 0,
                         0x40000040)  # initialised data, readable
    headers = bytes(dos) + b"PE\0\0" + coff + optional + header
    return headers + b"\0" * (_FILE_ALIGN - len(headers)) + raw


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], "wb") as f:
        f.write(forwarder_dll("bcryptprimitives.dll", {"ProcessPrng": "advapi32.SystemFunction036"}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
