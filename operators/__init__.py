"""skuflow's pure domain: events, validation, the fold, the per-key ledger.

No I/O and no Bytewax, Kafka or RocksDB here; the shell (dataflows/, connectors/,
serving/) calls these functions. Entry points: `validate`, `postings`, `KeyLedger`.
"""

from operators.events import Disposition, EventType, InventoryEvent, Status
from operators.fold import EMPTY, Buckets, Posting, apply, fold, postings
from operators.item_master import ItemMaster
from operators.ledger import BatchOutcome, FoldSettings, KeyLedger
from operators.rejects import Reason, Rejection
from operators.routing import key_of, route
from operators.snapshot import AvailabilitySnapshot
from operators.validation import validate

__all__ = [
    "EMPTY",
    "AvailabilitySnapshot",
    "BatchOutcome",
    "Buckets",
    "Disposition",
    "EventType",
    "FoldSettings",
    "InventoryEvent",
    "ItemMaster",
    "KeyLedger",
    "Posting",
    "Reason",
    "Rejection",
    "Status",
    "apply",
    "fold",
    "key_of",
    "postings",
    "route",
    "validate",
]
