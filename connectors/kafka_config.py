"""Which Kafka cluster, and how to reach it: the broker list (`--bootstrap`) and the
librdkafka properties of `--kafka-config FILE` (security.protocol, sasl.*, ssl.*, ...).

The file is Java-properties style, `name=value` per line, `#` or `!` comments. A value may
name environment variables as `${NAME}`, so secrets stay out of the file; no value read
from the environment or of a secret property is ever printed (errors name the property).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.exceptions import ConnectorError

_LINE = re.compile(r"^([^=:\s]+)\s*[=:]\s*(.*)$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET = re.compile(r"password|secret|\.pem$|\.key$|jaas", re.IGNORECASE)
# Set by skuflow per client (or the command line): the file may not change them.
_OWN = frozenset({"bootstrap.servers", "group.id", "enable.auto.commit", "enable.idempotence", "acks"})


class KafkaConfigError(ConnectorError):
    """The --kafka-config file cannot be read or holds a property librdkafka refuses."""


@dataclass(frozen=True)
class Brokers:
    """A Kafka cluster: its bootstrap servers and the client properties every client gets."""

    bootstrap: str
    settings: Mapping[str, str] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()  # the values never to print
    source: str | None = None  # the config file, for messages

    def client(self, **own: Any) -> dict[str, Any]:
        """A librdkafka config: the file's properties, skuflow's own for this client on top."""
        return {**self.settings, "bootstrap.servers": self.bootstrap, **own}

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def __str__(self) -> str:
        return self.bootstrap if self.source is None else f"{self.bootstrap} (with {self.source})"


def as_brokers(brokers: Brokers | str) -> Brokers:
    return brokers if isinstance(brokers, Brokers) else Brokers(brokers)


def load_kafka_config(path: Path, bootstrap: str, environ: Mapping[str, str] = os.environ) -> Brokers:
    """The cluster at `bootstrap` with the properties of `path`, each checked by librdkafka."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise KafkaConfigError(f"cannot read Kafka config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise KafkaConfigError(f"{path}: not UTF-8 text") from None
    settings: dict[str, str] = {}
    secrets: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        match = _LINE.match(line)
        if match is None:
            raise KafkaConfigError(f"{path}:{number}: expected name=value")
        name, value = match.group(1), match.group(2).strip()
        if name in _OWN:
            raise KafkaConfigError(f"{path}:{number}: {name} is skuflow's to set (the brokers: --bootstrap)")
        missing = [v for v in _ENV.findall(value) if v not in environ]
        if missing:
            raise KafkaConfigError(f"{path}:{number}: {name}: environment variable {missing[0]} is not set")
        expanded = _ENV.sub(lambda m: environ[m.group(1)], value)
        if expanded != value or _SECRET.search(name):
            secrets.add(expanded)
        settings[name] = expanded
    brokers = Brokers(bootstrap, settings, frozenset(s for s in secrets if s), str(path))
    _check(brokers)
    return brokers


def _check(brokers: Brokers) -> None:
    """Let librdkafka judge every property now (a client refuses unknown ones or bad values)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient(brokers.client(log_level=0))
    except KafkaException as exc:
        raise KafkaConfigError(f"{brokers.source}: {brokers.redact(str(exc.args[0].str()))}") from None
    except (TypeError, ValueError) as exc:
        raise KafkaConfigError(f"{brokers.source}: {brokers.redact(str(exc))}") from None
