from __future__ import annotations

import pytest
import yaml

from .fake_apiserver import FakeApiServer


@pytest.fixture
def fake_cluster(tmp_path, monkeypatch):
    """Start a fake API server; returns a factory taking FakeApiServer options."""
    servers = []

    def start(**options) -> FakeApiServer:
        server = FakeApiServer(**options).start()
        servers.append(server)
        path = tmp_path / f"kubeconfig-{len(servers)}"
        path.write_text(yaml.safe_dump(server.kubeconfig()))
        monkeypatch.setenv("KUBECONFIG", str(path))
        return server

    for var in ("KUBERNETES_SERVICE_HOST", "FT_RUNNER_IN_CLUSTER", "FT_RUNNER_JOB_NAME", "FT_RUNNER_JOB_UID",
                "FT_RUNNER_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    yield start
    for server in servers:
        server.stop()
