"""The edges of skuflow: codecs, files, Kafka, the RocksDB sink, the policy file, the simulator.

Entry points: sources `EventFileSource`, `KafkaEventSource`, `SimulatorSource`,
`ControlSource`; sinks `RecordFileSink`, `PerKeyFileSink`, `KafkaRecordSink`,
`KafkaChannelSink`, `StoreSink`; codecs `Decoder`, `AvroWire`; `load_policy`.
"""

from connectors.codec import Decoder
from connectors.files import EventFileSource, PerKeyFileSink, RecordFileSink
from connectors.kafka import KafkaChannelSink, KafkaEventSource, KafkaRecordSink
from connectors.policy_file import ControlSource, load_policy
from connectors.simulator import Distributor, SimulatorSource
from connectors.store_sink import StoreSink
from connectors.wire import AvroWire

__all__ = [
    "AvroWire",
    "ControlSource",
    "Decoder",
    "Distributor",
    "EventFileSource",
    "KafkaChannelSink",
    "KafkaEventSource",
    "KafkaRecordSink",
    "PerKeyFileSink",
    "RecordFileSink",
    "SimulatorSource",
    "StoreSink",
    "load_policy",
]
