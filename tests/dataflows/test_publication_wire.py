"""A channel message carries its figure's terms, unless they would outgrow a Kafka message."""

from __future__ import annotations

import orjson

import schemas
from connectors.wire import AvroWire
from dataflows.runner import MAX_WIRE_EXPLANATION, _publication_wire
from operators import AvailabilitySnapshot, Buckets
from operators.policy import Channel, Policy
from operators.publication import SkuChannels


def _published(locations: int) -> dict[str, object]:
    """b2b's figure of one SKU stocked at `locations` locations, as its Avro record round-tripped."""
    sku, policy = "SKU-ü/1", Policy("p1", (Channel("b2b"),))
    channels = SkuChannels(sku)
    pubs = []
    for i in range(locations):
        snap = AvailabilitySnapshot.of(sku, f"STORE-{i:05d}", Buckets(sellable=3), 1, 1_780_000_000_000, f"e-{i}")
        pubs = channels.on_snapshot(snap, policy, frozenset()) or pubs
    wire = AvroWire(schemas.CHANNEL_AVAILABILITY)
    return wire.decode(wire.encode_single_object(_publication_wire(pubs[-1])))


def test_the_terms_travel_as_json() -> None:
    record = _published(3)
    terms = orjson.loads(record["explanation"])  # type: ignore[arg-type]
    assert terms["figure"] == record["available"] == 9
    assert [loc["location"] for loc in terms["locations"]] == ["STORE-00000", "STORE-00001", "STORE-00002"]


def test_terms_beyond_the_limit_are_left_off_and_the_figure_still_goes() -> None:
    record = _published(2000)  # ~200 bytes a location
    assert record["explanation"] is None and record["available"] == 6000
    assert len(orjson.dumps(record)) < MAX_WIRE_EXPLANATION
