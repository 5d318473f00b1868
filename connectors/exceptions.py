"""Errors of the connectors package."""

from operators.exceptions import SkuflowError


class ConnectorError(SkuflowError):
    """An input or output cannot be opened or written."""
