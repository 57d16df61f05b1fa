"""Test helper for both runtimes (plain standard library)."""

from pathlib import Path


def listening_on(port: int) -> set[str]:
    """The IPv4 addresses a local port listens on (/proc/net/tcp, state 0A = LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if fields[3] == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found
