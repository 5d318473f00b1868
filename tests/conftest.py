"""Session fixtures shared by the suites."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port

KAFKA_SH = Path(__file__).parent.parent / "deploy" / "kafka" / "kafka.sh"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real single-node KRaft broker of our own, on free ports, stopped at the end.

    Set KAFKA_BOOTSTRAP to use a running broker instead. Under CI=true a broker that
    does not start fails the run; elsewhere a machine without Java or Maven skips.
    """
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    if not (shutil.which("java") and shutil.which("mvn")) and os.environ.get("CI") != "true":
        pytest.skip("Kafka suites need Java 17+ and Maven (they are never skipped in CI)")
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_DATA_DIR": str(tmp_path_factory.mktemp("kafka")),
    }
    started = subprocess.run([str(KAFKA_SH), "up"], env=env, capture_output=True, text=True, timeout=600)
    try:
        if started.returncode != 0:
            pytest.fail(f"the Kafka broker did not start:\n{started.stderr}", pytrace=False)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(KAFKA_SH), "down"], env=env, capture_output=True, timeout=120)
