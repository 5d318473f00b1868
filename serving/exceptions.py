"""Errors of the serving package."""

from operators.exceptions import SkuflowError


class StoreError(SkuflowError):
    """The RocksDB store cannot be opened or read."""
