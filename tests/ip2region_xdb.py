"""A small ip2region database (the xdb 2.0 layout py-ip2region reads: header, vector index, regions, segment
index), made for the tests: the real one is a 10 MB download this machine cannot make."""
from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

HEADER, VECTOR = 256, 256 * 256 * 8


def write_xdb(path: Path, ranges: dict[str, str]) -> Path:
    """`ranges`: an IPv4 network (each within one /16) → its region (`中国|0|上海|上海市|电信`)."""
    segments = sorted((int(net.network_address), int(net.broadcast_address), region)
                      for net, region in ((ipaddress.ip_network(n), r) for n, r in ranges.items()))
    data, pointers = bytearray(), []
    for _, _, region in segments:
        pointers.append((HEADER + VECTOR + len(data), len(region.encode())))
        data += region.encode()
    index_start = HEADER + VECTOR + len(data)
    vector, index = bytearray(VECTOR), bytearray()
    for number, ((start, end, _), (ptr, length)) in enumerate(zip(segments, pointers, strict=True)):
        entry = index_start + number * 14
        index += struct.pack("<IIHI", start, end, length, ptr)
        slot = ((start >> 24) * 256 + ((start >> 16) & 0xFF)) * 8
        first = struct.unpack_from("<I", vector, slot)[0] or entry
        struct.pack_into("<II", vector, slot, first, entry)
    header = struct.pack("<HHIII", 2, 1, 0, index_start, index_start + len(index) - 14).ljust(HEADER, b"\0")
    path.write_bytes(header + vector + data + index)
    return path
