"""The edges of skuflow: codecs, file and store connectors, the simulator.

Entry points: `EventFileSource`, `RecordFileSink`, `SnapshotStoreSink`,
`SimulatorSource`, `Decoder`.
"""

from connectors.codec import Decoder
from connectors.files import EventFileSource, RecordFileSink
from connectors.simulator import Distributor, SimulatorSource
from connectors.store_sink import SnapshotStoreSink

__all__ = ["Decoder", "Distributor", "EventFileSource", "RecordFileSink", "SimulatorSource", "SnapshotStoreSink"]
