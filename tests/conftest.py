"""Session fixtures shared by the suites."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import free_port, kafka_broker


@dataclass(frozen=True)
class LocalKafka:
    bootstrap: str
    sasl_bootstrap: str | None  # SASL_PLAINTEXT, SCRAM-SHA-512, user SASL_USER
    sasl_password: str | None


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A real single-node KRaft broker of our own, on free ports, stopped at the end, with a
    SASL listener beside its plaintext one.

    Set KAFKA_BOOTSTRAP to use a running broker instead (no SASL listener then). Under
    CI=true a broker that does not start fails the run; elsewhere a machine without Java or
    Maven skips.
    """
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        yield LocalKafka(external, None, None)
        return
    if not (shutil.which("java") and shutil.which("mvn")) and os.environ.get("CI") != "true":
        pytest.skip("Kafka suites need Java 17+ and Maven (they are never skipped in CI)")
    sasl_port, password = free_port(), secrets.token_urlsafe(16)
    with kafka_broker(tmp_path_factory.mktemp("kafka"), (sasl_port, password)) as (bootstrap, error):
        if error:
            pytest.fail(f"the Kafka broker did not start:\n{error}", pytrace=False)
        yield LocalKafka(bootstrap, f"127.0.0.1:{sasl_port}", password)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka: LocalKafka) -> str:
    return kafka.bootstrap
