"""skuflow's pure domain: events, validation, the fold, the per-key ledger, channel rules.

No I/O and no Bytewax, Kafka or RocksDB here; the shell (dataflows/, connectors/,
serving/) calls these functions. Entry points: `validate`, `postings`, `NativeLedgers`
(the fold the dataflow runs, in the native core) and `KeyLedger` (the same fold in Python,
its reference), `channel_figures` / `SkuChannels` (channel availability under a `Policy`).
"""

from operators.channels import LocationView, account_figures, channel_figures, kit_figure
from operators.events import Disposition, EventType, InventoryEvent, Status
from operators.fold import EMPTY, Buckets, Posting, apply, fold, postings
from operators.item_master import ItemMaster
from operators.ledger import BatchOutcome, FoldSettings, KeyLedger, NativeLedgers
from operators.policy import Policy
from operators.publication import ChannelPublication, SkuChannels
from operators.rejects import Reason, Rejection
from operators.routing import key_of, route
from operators.snapshot import AvailabilitySnapshot
from operators.validation import validate

__all__ = [
    "EMPTY",
    "AvailabilitySnapshot",
    "BatchOutcome",
    "Buckets",
    "ChannelPublication",
    "Disposition",
    "EventType",
    "FoldSettings",
    "InventoryEvent",
    "ItemMaster",
    "KeyLedger",
    "LocationView",
    "NativeLedgers",
    "Policy",
    "Posting",
    "Reason",
    "Rejection",
    "SkuChannels",
    "Status",
    "account_figures",
    "apply",
    "channel_figures",
    "fold",
    "key_of",
    "kit_figure",
    "postings",
    "route",
    "validate",
]
