"""Errors of the serving package."""

from operators.exceptions import SkuflowError


class StoreError(SkuflowError):
    """The RocksDB store cannot be opened or read."""


class KeysError(SkuflowError):
    """The API keys file cannot be read, is not valid, or a `skuflow keys` change cannot be made."""
