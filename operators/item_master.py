"""Unit-of-measure conversion to base units (EA), from the item master."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from operators.exceptions import ItemMasterError

BASE_UOM = "EA"


class ItemMaster:
    """Conversion factors per (sku, uom); EA is always 1 and needs no row."""

    __slots__ = ("_factors",)

    def __init__(self, factors: Mapping[tuple[str, str], int] | None = None) -> None:
        self._factors: dict[tuple[str, str], int] = dict(factors or {})

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, str]]) -> ItemMaster:
        """Build from CSV rows with columns `sku,uom,factor` (e.g. `SKU-1,CS,12`)."""
        factors: dict[tuple[str, str], int] = {}
        for line, row in enumerate(rows, start=2):
            try:
                sku, uom, factor = row["sku"].strip(), row["uom"].strip(), int(row["factor"])
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ItemMasterError(f"item master line {line}: expected sku,uom,factor ({exc})") from exc
            if not sku or not uom or factor <= 0:
                raise ItemMasterError(f"item master line {line}: sku and uom must be set, factor > 0")
            factors[(sku, uom)] = factor
        return cls(factors)

    def factor(self, sku: str, uom: str) -> int | None:
        """Units of EA in one `uom` of `sku`, or None when the UOM is unknown for it."""
        if uom == BASE_UOM:
            return 1
        return self._factors.get((sku, uom))

    def factors(self) -> dict[tuple[str, str], int]:
        """Every (sku, uom) factor but EA's, as a copy (the native core takes its own)."""
        return dict(self._factors)

    def __len__(self) -> int:
        return len(self._factors)
