"""A real S3 API over HTTP: moto's server on 127.0.0.1 with signature checking on.

Authentication is enforced (moto's INITIAL_NO_AUTH_ACTION_COUNT = 0): requests are
SigV4-signed by boto3 and checked against an IAM user with an s3:* policy, so wrong
credentials fail as they would against a real store. Credentials reach boto3 only
through the standard chain (environment variables); shared config files are pointed
at empty paths so nothing on the machine leaks in.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Store:
    """A ThreadedMotoServer that can be stopped and started again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server._server.server_close()  # release the port: refuse connections like a dead store
            self.server = None


@dataclass(frozen=True)
class Creds:
    access_key: str
    secret_key: str


@pytest.fixture(scope="package")  # auth stays on only while these tests run
def _auth_on() -> Iterator[Creds]:
    from moto import settings
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    iam.create_user(region_name="us-east-1", user_name="ft-runner", path="/", tags=[])
    iam.put_user_policy("ft-runner", "results", json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key("ft-runner")
    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    yield Creds(key.access_key_id, key.secret_access_key)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = before


@pytest.fixture(scope="package")
def store(_auth_on) -> Iterator[Store]:
    s = Store(free_port())
    s.start()
    yield s
    s.stop()


@pytest.fixture
def creds(_auth_on, monkeypatch, tmp_path) -> Creds:
    """The standard chain, through the environment only."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ROLE_ARN",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", _auth_on.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", _auth_on.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return _auth_on


_buckets = iter(range(10_000))


@pytest.fixture
def bucket(store, creds) -> str:
    """A fresh bucket per test, created over HTTP with the test's credentials."""
    import boto3

    name = f"ft-results-{next(_buckets)}"
    boto3.session.Session().client("s3", endpoint_url=store.endpoint).create_bucket(Bucket=name)
    return name
