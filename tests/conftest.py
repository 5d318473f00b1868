"""Session fixtures shared by the suites."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.helpers import kafka_broker


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
    with kafka_broker(tmp_path_factory.mktemp("kafka")) as (bootstrap, error):
        if error:
            pytest.fail(f"the Kafka broker did not start:\n{error}", pytrace=False)
        yield bootstrap
