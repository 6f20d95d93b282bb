"""Cutting one local worker off the network on loopback: an iptables chain of our own that matches only that
worker's listening ports, and `ss -K` for the connections that were already open (a rule alone leaves a
pooled connection's packets to whoever matched them first; killed sockets are gone for good).

The chain is FT-PARTITION-<runner pid>-<n>, jumped to from the top of OUTPUT (every loopback packet passes
OUTPUT). It is removed on heal, on any error while it is set up, at teardown, and a later run removes the
chains of a runner that died (its PID is gone). No other chain is ever touched.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
from pathlib import Path

from runner.core.errors import UserError

CHAIN_PREFIX = "FT-PARTITION-"
LISTEN, ESTABLISHED = "0A", "01"
LOOPBACK_OR_ANY = ("127.0.0.1", "0.0.0.0")
_CHAIN_RE = re.compile(rf"^-N ({CHAIN_PREFIX}(\d+)-\d+)$", re.M)


class NetCutError(RuntimeError):
    pass


def require_root_tools() -> None:
    """One clear line when a partition cannot run here."""
    if os.geteuid() != 0:
        raise UserError("partition and connection-reset faults on the local platform need root (they add an iptables "
                        "rule on loopback and kill sockets with `ss -K`); run as root or choose another fault")
    for tool, package in (("iptables", "iptables"), ("ss", "iproute2")):
        if shutil.which(tool) is None:
            raise UserError(f"partition faults need `{tool}`: install the {package} package")


def _ip(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    return ".".join(str(b) for b in reversed(raw)) if len(raw) == 4 else raw.hex()


def parse_tcp_table(text: str) -> list[dict]:
    """Rows of /proc/<pid>/net/tcp: local/remote address and port, state (hex, 0A listen), socket inode."""
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10:
            continue
        (local_ip, local_port), (remote_ip, remote_port) = (p.split(":") for p in parts[1:3])
        rows.append({"local_ip": _ip(local_ip), "local_port": int(local_port, 16), "remote_ip": _ip(remote_ip),
                     "remote_port": int(remote_port, 16), "state": parts[3], "inode": int(parts[9])})
    return rows


def socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(int(link[8:-1]))
    return found


def listening_ports(rows: list[dict], inodes: set[int]) -> list[int]:
    """The ports a process listens on over IPv4 loopback (or every interface, as ZMQ binds)."""
    return sorted({r["local_port"] for r in rows if r["inode"] in inodes and r["state"] == LISTEN
                   and r["local_ip"] in LOOPBACK_OR_ANY})


def worker_ports(pid: int) -> list[int]:
    try:
        rows = parse_tcp_table(Path(f"/proc/{pid}/net/tcp").read_text())
        return listening_ports(rows, socket_inodes(pid))
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise NetCutError(f"process {pid} is gone: {exc}") from exc


def rules(chain: str, ports: list[int], action: str) -> list[list[str]]:
    """iptables arguments: a partition drops packets to and from the ports; a reset answers new connections
    to them with a TCP reset."""
    out = []
    for port in ports:
        to_port = ["-A", chain, "-p", "tcp", "-d", "127.0.0.1", "--dport", str(port)]
        if action == "partition":
            out += [[*to_port, "-j", "DROP"], ["-A", chain, "-p", "tcp", "-s", "127.0.0.1", "--sport", str(port),
                                               "-j", "DROP"]]
        else:
            out.append([*to_port, "-j", "REJECT", "--reject-with", "tcp-reset"])
    return out


def ss_filter(ports: list[int], both_ends: bool) -> list[str]:
    """`ss` filter of the established connections to the ports (both ends: the peer's socket too)."""
    terms: list[str] = []
    for port in ports:
        terms += [*(["or"] if terms else []), "sport", "=", f":{port}"]
        if both_ends:
            terms += ["or", "dport", "=", f":{port}"]
    return ["state", "established", "(", *terms, ")"]


def stale_chains(listing: str, alive) -> list[str]:
    """Our chains whose runner PID is gone (listing: `iptables -S`)."""
    return [m.group(1) for m in _CHAIN_RE.finditer(listing) if not alive(int(m.group(2)))]


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def _run(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode(errors="replace")


async def _iptables(*args: str) -> str:
    code, out = await _run("iptables", "-w", "5", *args)
    if code != 0:
        raise NetCutError(f"iptables {' '.join(args)}: {out.strip()}")
    return out


class NetCut:
    """The chains this runner set, by target."""

    def __init__(self):
        self._chains: dict[str, str] = {}
        self._count = 0

    async def cut(self, target: str, ports: list[int], action: str) -> dict:
        if not ports:
            raise NetCutError(f"{target} listens on no loopback port: nothing to cut")
        self._count += 1
        chain = f"{CHAIN_PREFIX}{os.getpid()}-{self._count}"
        self._chains[target] = chain
        try:
            await _iptables("-N", chain)
            for rule in rules(chain, ports, action):
                await _iptables(*rule)
            await _iptables("-I", "OUTPUT", "1", "-j", chain)
            killed = await kill_established(ports, both_ends=action == "partition")
        except (NetCutError, OSError):
            await self.heal(target)
            raise
        how = "DROP both ways" if action == "partition" else "REJECT --reject-with tcp-reset"
        return {"mechanism": f"iptables chain {chain} on loopback ({how}) + ss -K", "chain": chain, "ports": ports,
                "connections_cut": killed}

    async def cut_once(self, ports: list[int]) -> dict:
        """Reset the established connections to the ports, once: the worker's side is killed, so the kernel
        sends the frontend's side a reset."""
        killed = await kill_established(ports, both_ends=False)
        return {"mechanism": "ss -K (reset once)", "ports": ports, "connections_cut": killed}

    async def heal(self, target: str) -> dict:
        chain = self._chains.pop(target, None)
        if chain is None:
            return {"removed": True, "detail": "no rule was set"}
        try:
            await remove_chain(chain)
        except (NetCutError, OSError) as exc:
            return {"removed": False, "chain": chain, "detail": str(exc)}
        return {"removed": True, "chain": chain}

    async def heal_all(self) -> None:
        for target in list(self._chains):
            await self.heal(target)


async def remove_chain(chain: str) -> None:
    while (await _run("iptables", "-w", "5", "-D", "OUTPUT", "-j", chain))[0] == 0:
        pass  # every jump to it (one, unless a rule was added twice)
    code, out = await _run("iptables", "-w", "5", "-S", chain)
    if code == 0:
        await _iptables("-F", chain)
        await _iptables("-X", chain)


async def remove_stale_chains() -> list[str]:
    code, listing = await _run("iptables", "-w", "5", "-S")
    stale = stale_chains(listing, _alive) if code == 0 else []
    for chain in stale:
        await remove_chain(chain)
    return stale


async def kill_established(ports: list[int], both_ends: bool) -> int:
    code, out = await _run("ss", "-K", "-t", "-n", *ss_filter(ports, both_ends))
    if code != 0:
        raise NetCutError(f"ss -K failed: {out.strip()}")
    return sum(1 for line in out.splitlines()[1:] if line.strip())


async def probe_port(port: int, timeout_s: float) -> str:
    """A fresh connection to 127.0.0.1:port: connected, timeout, refused, reset or the error's name."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout_s)
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "reset"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    writer.close()
    return "connected"
