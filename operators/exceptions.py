"""Errors raised by the domain. Bad *events* never raise: they become Rejections."""


class SkuflowError(Exception):
    """Base of every error skuflow raises on purpose."""


class ItemMasterError(SkuflowError, ValueError):
    """The item master file is malformed."""


class Overflow(ArithmeticError):
    """A move would take a figure beyond int64. Never escapes the ledger, which makes it
    a `quantity_overflow` rejection and keeps the key as it was."""
