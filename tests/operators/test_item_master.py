"""The item master is validated like the policy file: `file:line: what`, nothing guessed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operators import ItemMaster
from operators.exceptions import ItemMasterError


def test_rows_with_bom_and_crlf() -> None:
    im = ItemMaster.parse("\ufeffsku,uom,factor\r\nSKU-1,CS,12\r\nSKU-1,CS,12\r\n\r\nSKU-2, PL ,480\r\n", "im.csv")
    assert im.factor("SKU-1", "CS") == 12 and im.factor("SKU-2", "PL") == 480 and len(im) == 2


def test_a_header_only_file_is_an_empty_master() -> None:
    assert len(ItemMaster.parse("sku,uom,factor\n")) == 0


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("", "im.csv:1", "expected the header"),
        ("SKU-1,CS,12\n", "im.csv:1", "expected the header"),
        ("sku,uom,factor\nSKU-1,CS,12\nSKU-1,CS,24\n", "im.csv:3", "12 on line 2"),
        ("sku,uom,factor\nSKU-1,CS\n", "im.csv:2", "expected 3 fields"),
        ("sku,uom,factor\nSKU-1,CS,12,4\n", "im.csv:2", "expected 3 fields"),
        ("sku,uom,factor\nSKU-1,CS,0\n", "im.csv:2", "not a whole number"),
        ("sku,uom,factor\nSKU-1,CS,1.5\n", "im.csv:2", "not a whole number"),
        ("sku,uom,factor\nSKU-1,CS,\u00b2\n", "im.csv:2", "not a whole number"),
        ("sku,uom,factor\nSKU-1,CS," + "9" * 5000 + "\n", "im.csv:2", "not a whole number"),
        ("sku,uom,factor\nSKU-1,EA,12\n", "im.csv:2", "base unit"),
        ("sku,uom,factor\n,CS,12\n", "im.csv:2", "must be set"),
    ],
)
def test_mistakes_are_refused_with_file_and_line(text: str, where: str, what: str) -> None:
    with pytest.raises(ItemMasterError) as err:
        ItemMaster.parse(text, "im.csv")
    assert str(err.value).startswith(where + ": ") and what in str(err.value)


@given(st.text())
def test_any_text_is_a_master_or_one_error(text: str) -> None:
    try:
        ItemMaster.parse(text, "im.csv")
    except ItemMasterError as exc:
        assert str(exc).startswith("im.csv:") and "\n" not in str(exc).split(": ", 1)[0]
