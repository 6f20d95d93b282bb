"""runner.platforms.local.netcut: a process's listening ports read from the real /proc, the rules and ss filters
it builds, stale chains of dead runners, and the refusal without root."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from runner.core.errors import UserError
from runner.platforms.local import netcut


def test_the_listening_ports_of_this_process_are_found_from_proc():
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    try:
        ports = netcut.worker_ports(os.getpid())
        assert server.getsockname()[1] in ports
        assert client.getsockname()[1] not in ports  # an established connection's own port is not listening
    finally:
        client.close()
        server.close()


def test_the_tcp_table_is_parsed():
    text = Path("/proc/self/net/tcp").read_text().splitlines()[0] + "\n" + (
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1")
    assert netcut.parse_tcp_table(text) == [{"local_ip": "127.0.0.1", "local_port": 8080, "remote_ip": "0.0.0.0",
                                             "remote_port": 0, "state": "0A", "inode": 4242}]


def test_a_partition_drops_both_ways_and_a_reset_rejects_new_connections():
    drop = netcut.rules("C", [7], "partition")
    assert drop == [["-A", "C", "-p", "tcp", "-d", "127.0.0.1", "--dport", "7", "-j", "DROP"],
                    ["-A", "C", "-p", "tcp", "-s", "127.0.0.1", "--sport", "7", "-j", "DROP"]]
    assert netcut.rules("C", [7], "reset") == [["-A", "C", "-p", "tcp", "-d", "127.0.0.1", "--dport", "7", "-j",
                                                "REJECT", "--reject-with", "tcp-reset"]]


def test_the_ss_filter_matches_the_worker_side_or_both_ends():
    assert netcut.ss_filter([1, 2], both_ends=False) == ["state", "established", "(", "sport", "=", ":1", "or",
                                                         "sport", "=", ":2", ")"]
    assert "dport" in netcut.ss_filter([1], both_ends=True)


def test_only_our_chains_of_dead_runners_are_stale():
    listing = "-P OUTPUT ACCEPT\n-N FT-CLUSTER-NAT\n-N FT-PARTITION-11-1\n-N FT-PARTITION-22-3\n"
    assert netcut.stale_chains(listing, alive=lambda pid: pid == 22) == ["FT-PARTITION-11-1"]


def test_without_root_the_fault_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(UserError, match="need root"):
        netcut.require_root_tools()
