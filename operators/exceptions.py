"""Errors raised by the domain. Bad *events* never raise: they become Rejections."""


class SkuflowError(Exception):
    """Base of every error skuflow raises on purpose."""


class ItemMasterError(SkuflowError, ValueError):
    """The item master file is malformed."""
