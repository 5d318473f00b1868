"""Unit-of-measure conversion to base units (EA), from the item master."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping

from operators.exceptions import ItemMasterError

BASE_UOM = "EA"
MAX_FACTOR = 10**12  # operators.validation.MAX_BASE_QTY: one unit may not exceed it
_HEADER = ("sku", "uom", "factor")
_WHOLE = re.compile("[0-9]{1,13}")


class ItemMaster:
    """Conversion factors per (sku, uom); EA is always 1 and needs no row."""

    __slots__ = ("_factors",)

    def __init__(self, factors: Mapping[tuple[str, str], int] | None = None) -> None:
        self._factors: dict[tuple[str, str], int] = dict(factors or {})

    @classmethod
    def parse(cls, text: str, source: str = "item master") -> ItemMaster:
        """The item master from CSV text: the header `sku,uom,factor`, then a row per
        conversion (e.g. `SKU-1,CS,12`). Every mistake is refused as `source:line: what`:
        a missing header, a short or long row, a factor that is not a whole number from 1
        to 10**12, an `EA` factor other than 1, and two rows that disagree."""
        rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
        if not rows or [c.strip().lower() for c in rows[0]] != list(_HEADER):
            found = ",".join(rows[0]) if rows else "an empty file"
            raise ItemMasterError(f"{source}:1: expected the header {','.join(_HEADER)}, found {found!r}")
        factors: dict[tuple[str, str], int] = {}
        first_line: dict[tuple[str, str], int] = {}
        for line, row in enumerate(rows[1:], start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(_HEADER):
                raise ItemMasterError(f"{source}:{line}: expected 3 fields sku,uom,factor, found {len(row)}")
            sku, uom, text_factor = (c.strip() for c in row)
            if not sku or not uom:
                raise ItemMasterError(f"{source}:{line}: sku and uom must be set")
            if not _WHOLE.fullmatch(text_factor) or not 1 <= int(text_factor) <= MAX_FACTOR:
                raise ItemMasterError(f"{source}:{line}: factor {text_factor!r} is not a whole number 1..{MAX_FACTOR}")
            factor = int(text_factor)
            if uom == BASE_UOM and factor != 1:
                raise ItemMasterError(f"{source}:{line}: {BASE_UOM} is the base unit, its factor is 1")
            held = factors.setdefault((sku, uom), factor)
            if held != factor:
                raise ItemMasterError(
                    f"{source}:{line}: {sku} {uom} is {factor} here but {held} on line {first_line[(sku, uom)]}"
                )
            first_line.setdefault((sku, uom), line)
        factors = {k: v for k, v in factors.items() if k[1] != BASE_UOM}
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
