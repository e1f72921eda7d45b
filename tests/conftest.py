"""Shared test fixtures: fake S3 (moto server on loopback), a tiny model folder, a local Ray.

S3: the test session reserves a free loopback port at import time and points ``FSSPEC_S3_ENDPOINT_URL`` there, with
dummy AWS credentials, *before* anything can start Ray; Ray workers inherit the environment, so code running in
actors reaches the same fake S3 without extra options. The moto server itself starts on first use of `s3_endpoint`.
No test can reach real AWS: the credentials are fake and the endpoint is 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


S3_PORT = _free_port()
S3_ENDPOINT = f"http://127.0.0.1:{S3_PORT}"
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    FSSPEC_S3_ENDPOINT_URL=S3_ENDPOINT,
)


# ----------------------------------------------------------------------------------------------------------- S3
@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on 127.0.0.1 (started once per session, stopped at the end)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=S3_PORT, verbose=False)
    server.start()
    yield S3_ENDPOINT
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket for one test, as ``s3://name``."""
    import s3fs

    name = f"test-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=s3_endpoint).mkdir(name)
    return f"s3://{name}"


@pytest.fixture(params=["local", "s3"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Root URL of an empty folder, once on local disk and once in fake S3 (tests run for both)."""
    if request.param == "local":
        return str(tmp_path / "root")
    return request.getfixturevalue("s3_bucket") + "/root"


# -------------------------------------------------------------------------------------------------- tiny model
@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete model folder (gpt.ckpt, sovits.pth, hubert/roberta) with tiny random weights, made once."""
    from sovits_core.testing.make_model import make_model

    out = tmp_path_factory.mktemp("tiny_model")
    make_model(out, "tiny", seed=0)
    return out


# ------------------------------------------------------------------------------------------------------ Ray
@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A local Ray (2 CPUs, no dashboard) for the session; jobs' `init_ray` reuses it."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()
