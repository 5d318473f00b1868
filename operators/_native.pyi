"""Stub of the native core (operators/native, Rust): see connectors/avro_records.py."""

from typing import Any

Shape = tuple[str, list[str] | None]
FieldSpec = tuple[int, str, list[str] | None, list[Shape] | None]

class RecordDecoder:
    def __init__(
        self,
        layout: list[FieldSpec],
        factors: dict[tuple[str, str], int],
        classes: tuple[Any, Any, list[Any], list[Any], list[Any]],
        groups: list[str],
        datetime_range: bool,
    ) -> None: ...
    def decode(
        self, data: bytes, start: int, skip: int, count: int
    ) -> tuple[list[Any], list[tuple[int, int, int]], int, int]: ...
