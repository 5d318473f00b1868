"""Serving: the RocksDB snapshot store and the availability HTTP API.

Entry point: `create_app(state_dir)`; the store is `StoreWriter` / `StoreReader`.
"""

from serving.store import StoreReader, StoreWriter

__all__ = ["StoreReader", "StoreWriter", "create_app"]


def __getattr__(name: str) -> object:
    # The API pulls in FastAPI; the dataflow only needs the store, so import lazily.
    if name == "create_app":
        from serving.api import create_app

        return create_app
    raise AttributeError(name)
