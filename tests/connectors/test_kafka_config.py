"""--kafka-config: properties as librdkafka takes them, secrets from the environment and
never in a message, each mistake one line with its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.kafka_config import KafkaConfigError, load_kafka_config


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "client.properties"
    path.write_text(text)
    return path


def test_properties_and_secrets_from_the_environment(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "# SASL to the cluster\n! another comment\n\nsecurity.protocol = SASL_SSL\nsasl.mechanism: SCRAM-SHA-512\n"
        "sasl.username=inventory\nsasl.password=${KAFKA_PW}\nssl.endpoint.identification.algorithm=https\n",
    )
    brokers = load_kafka_config(path, "b1:9093,b2:9093", {"KAFKA_PW": "pa=ss:word"})
    assert brokers.client(**{"group.id": "g"}) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "inventory",
        "sasl.password": "pa=ss:word",
        "ssl.endpoint.identification.algorithm": "https",
        "bootstrap.servers": "b1:9093,b2:9093",
        "group.id": "g",
    }
    assert "pa=ss:word" not in str(brokers) and brokers.redact("password pa=ss:word refused") == "password *** refused"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sasl.password=${NOPE}\n", r"client.properties:1: sasl.password: environment variable NOPE is not set"),
        ("# c\nbootstrap.servers=x:1\n", r"client.properties:2: bootstrap.servers is skuflow's to set"),
        ("just words\n", r"client.properties:1: expected name=value"),
        ("no.such.property=1\n", r'client.properties: No such configuration property: "no.such.property"'),
        ("security.protocol=CARRIER_PIGEON\n", r"client.properties: .*security.protocol"),
    ],
)
def test_each_mistake_is_one_line_with_its_place(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(KafkaConfigError, match=message) as caught:
        load_kafka_config(_config(tmp_path, text), "b:9092", {})
    assert "\n" not in str(caught.value)


def test_a_refused_secret_value_is_never_printed(tmp_path: Path) -> None:
    path = _config(
        tmp_path, "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=${MECH}\n"
    )  # from the environment: secret
    with pytest.raises(KafkaConfigError) as caught:
        load_kafka_config(path, "b:9092", {"MECH": "hunter2-mechanism"})
    assert "hunter2-mechanism" not in str(caught.value) and "***" in str(caught.value)


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(KafkaConfigError, match=r"cannot read Kafka config .*nope: No such file"):
        load_kafka_config(tmp_path / "nope", "b:9092", {})
