"""Pydantic models of the API: they validate requests and document responses (OpenAPI).

Responses on the hot path are not built from these: the store already holds the
exact JSON bytes, and the models only describe them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from operators.anomalies import Anomaly as AnomalyReason

MAX_BATCH = 1000


class Snapshot(BaseModel):
    """Exact availability of one SKU at one location."""

    sku: str
    location: str
    sellable: int
    reserved: int
    picked: int
    quarantine: int
    damaged: int
    in_transit: int
    on_hand: int = Field(description="sellable + picked + quarantine + damaged")
    available: int = Field(description="max(0, sellable - reserved)")
    version: int = Field(description="Distinct accepted events folded into this key; keep the highest.")
    as_of: int = Field(description="Latest event time folded, epoch milliseconds.")
    last_event_id: str
    correlation_ids: list[str] = Field(default_factory=list, description="Of the events behind the last change.")
    accounts: dict[str, int] = Field(
        default_factory=dict, description="Each account's net reservations here (for ring-fenced contract stock)."
    )
    source_systems: list[str] = Field(
        default_factory=list, description="Source systems of the events behind the last change, in order."
    )


class Totals(BaseModel):
    sellable: int
    reserved: int
    picked: int
    quarantine: int
    damaged: int
    in_transit: int
    on_hand: int
    available: int = Field(description="Sum of the locations' available.")


class SkuAvailability(BaseModel):
    sku: str
    locations: list[Snapshot]
    total: Totals


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skus: list[str] = Field(min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} SKUs.")


class BatchResponse(BaseModel):
    results: list[SkuAvailability]
    missing: list[str] = Field(description="Requested SKUs the store has no snapshot for.")


class SkuPage(BaseModel):
    skus: list[str]
    next_after: str | None = Field(description="Pass as `after` for the next page; null on the last page.")


class Problem(BaseModel):
    """Every error: `error` is the status as a slug (`not_found`), `message` what to fix."""

    error: str
    message: str


class FieldProblem(BaseModel):
    loc: list[str] = Field(description="Where: body, query or path, then the field.")
    msg: str


class InvalidRequest(Problem):
    """A 422: the problem, and each field's."""

    detail: list[FieldProblem]


class Health(BaseModel):
    status: Literal["ok"]


class ChannelFigure(BaseModel):
    """What a channel (or an account) may sell of one SKU under the policy."""

    sku: str
    channel: str
    account: str | None = Field(None, description="Set on an account's own view.")
    available: int
    previous: int | None = Field(description="The figure published before this one.")
    version: int = Field(description="Events folded into the SKU across its locations; keep the highest.")
    as_of: int = Field(description="Latest event time behind the figure, epoch milliseconds.")
    policy_version: str
    cause_event_ids: list[str] = []
    correlation_ids: list[str] = []
    published_at: int | None = Field(None, description="When the channel's publisher released it, epoch ms.")


class ChannelBatchResponse(BaseModel):
    results: list[ChannelFigure]
    missing: list[str]


class Reconciliation(BaseModel):
    """A balance snapshot against the fold at its position in event order."""

    event_id: str = Field(description="The BALANCE_SNAPSHOT's event id.")
    sku: str
    location: str
    source_system: str | None
    bucket: Literal["on_hand", "sellable", "quarantine", "damaged"]
    reported: int = Field(description="What the source system says.")
    computed: int = Field(description="What skuflow holds at the same place in event order.")
    delta: int = Field(description="reported - computed")
    status: Literal["match", "divergent", "adopted"] = Field(
        description="adopted: the policy made the reported figure the bucket's at that place."
    )
    tolerance: str = Field(description="The policy's tolerance that judged it.")
    as_of: int = Field(description="The snapshot's occurred_at, epoch milliseconds.")
    version: int = Field(description="Re-checked with a higher one when a late event lands before it.")
    correlation_id: str | None


class KeyReconciliation(BaseModel):
    sku: str
    location: str
    records: list[Reconciliation] = Field(description="Each balance snapshot's latest record, by event id.")


class ReconciliationPage(BaseModel):
    records: list[Reconciliation]
    next_after: str | None = Field(description="Pass as `after` for the next page; null at the end.")


class Buckets(BaseModel):
    sellable: int
    reserved: int
    picked: int
    quarantine: int
    damaged: int
    in_transit: int


class Anomaly(BaseModel):
    """A valid event that left the books impossible or suspicious (applied as sent, never clamped)."""

    event_id: str
    reason: AnomalyReason
    sku: str
    location: str
    event_type: str
    subject: str = Field(description='The bucket, the order id, "available", or "source_system".')
    figure: int = Field(
        description="The bucket after (negative), the order's open or the picked units before, "
        "or available before its floor (sellable - reserved)."
    )
    quantity: int = Field(description="The event's quantity in base units.")
    detail: str
    before: Buckets
    after: Buckets
    status: Literal["open", "cleared"] = Field(description="cleared: events that arrived later undid it.")
    as_of: int = Field(description="The event's occurred_at, epoch milliseconds.")
    version: int = Field(description="Per (event_id, reason) the highest version stands.")


class Figures(Buckets):
    on_hand: int
    available: int


class Change(BaseModel):
    """One change of a key's snapshot, and the events that made it."""

    sku: str
    location: str
    version: int = Field(description="The snapshot's version after it.")
    before: Figures
    after: Figures
    cause_event_ids: list[str] = Field(description="The events it applied, in order (the newest 256).")
    cause_count: int = Field(description="How many events it applied.")
    correlation_ids: list[str]
    as_of: int = Field(description="Latest event time behind it, epoch milliseconds.")
    emitted_at: int = Field(description="When the fold emitted it, epoch milliseconds.")


class KeyChanges(BaseModel):
    sku: str
    location: str
    changes: list[Change] = Field(description="Oldest first; the store keeps each key's newest 1,024.")
    next_after_version: int | None = Field(description="Pass as `after_version` for the next page; null at the end.")


class KeyAnomalies(BaseModel):
    sku: str
    location: str
    records: list[Anomaly] = Field(description="Each event and reason's latest record.")


class AnomalyPage(BaseModel):
    records: list[Anomaly]
    next_after: str | None = Field(description="Pass as `after` for the next page; null at the end.")


class KeyHistory(BaseModel):
    sku: str
    location: str
    changes: list[Change] = Field(description="Newest first; the store keeps each key's newest 1,024.")
    next_before_version: int | None = Field(
        description="Pass as `before_version` for the next (older) page; null at the end."
    )


class LocationTerm(BaseModel):
    """One location's part in a figure, and the events that last changed it."""

    location: str
    eligible: bool = Field(description="Whether the channel sells from it.")
    available: int = Field(description="max(0, the snapshot's available)")
    stale: bool = Field(description="Its authoritative source has been silent past the policy's limit.")
    stale_rule: str | None = Field(description='"exclude" or "cap N" when stale and a rule covers it.')
    effective: int = Field(description="a(l): available after the stale rule.")
    fenced: int = Field(description="F(l): other accounts' unconsumed ring-fences at this location.")
    contributes: int = Field(description="max(0, effective - fenced) when eligible, else 0.")
    version: int
    as_of: int
    last_event_id: str
    correlation_ids: list[str]
    source_systems: list[str] = Field(
        default_factory=list, description="Source systems of the events that last changed it."
    )


class FenceTerm(BaseModel):
    account: str
    channel: str
    location: str | None = Field(description="null: the pool of its channel's locations.")
    quantity: int
    consumed: int = Field(description="The account's net reservations in the fence's scope.")
    unconsumed: int = Field(description="max(0, quantity - consumed)")
    counted: Literal["location", "pool"] | None = Field(
        description="Where it is held back from this figure: in F(l), in P(c), or not (the account's own)."
    )


class SafetyTerm(BaseModel):
    channel: str = Field(description="The channel whose safety stock it is (this one, or one of higher priority).")
    units: int
    percent: float
    held: int = Field(description="units + floor(percent% of pooled)")


class FigureTerms(BaseModel):
    """A SKU's figure on a channel: every term of the formula, as computed."""

    channel: str
    account: str | None
    locations: list[LocationTerm]
    fences: list[FenceTerm]
    pool_fenced: int = Field(description="P(c): unconsumed pool fences of other accounts.")
    pooled: int = Field(description="max(0, sum of contributes - pool_fenced)")
    safety: list[SafetyTerm]
    after_safety: int = Field(description="max(0, pooled - sum of safety held)")
    allocation_cap: float
    cap_units: int = Field(description="floor(allocation_cap * pooled)")
    low_stock_below: int
    figure: int = Field(description="min(after_safety, cap_units), then 0 when below low_stock_below.")


class KitPart(BaseModel):
    sku: str
    quantity: int = Field(description="Units per kit.")
    figure: int = Field(description="The component's figure on the channel.")
    allows: int = Field(description="floor(figure / quantity) kits.")


class KitTerms(BaseModel):
    """A kit's figure: the fewest kits any component allows."""

    components: list[KitPart]
    limiting: str | None
    figure: int


class Explained(BaseModel):
    figure: ChannelFigure
    explanation: FigureTerms | KitTerms


class RejectedEvent(BaseModel):
    """An input the flow rejected (or applied as well as it could), with its original payload."""

    event_id: str | None
    reason: str = Field(description="The reason code (README: every reason, what was applied, what to do).")
    detail: str
    applied: bool = Field(description="True for late_beyond_horizon: applied as well as it could be.")
    correlation_id: str | None
    origin: str | None = Field(description="Where it was read: file:line, file#record or topic/partition@offset.")
    topic: str | None
    partition: int | None
    offset: int | None
    payload_json: str | None = Field(description="The original event as JSON, when it could be parsed.")
    payload_base64: str | None = Field(description="The original bytes, when they could not be.")
    source_system: str | None = Field(description="The source system its payload names, when it names one.")
    stored_at: int = Field(description="When the store took it, epoch milliseconds.")


class ExceptionPage(BaseModel):
    records: list[RejectedEvent] = Field(description="Newest first; the store keeps the newest 100,000.")
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null at the end.")


class ChannelList(BaseModel):
    channels: list[str]
    accounts: dict[str, str] = Field(description="Each account with ring-fences, and its channel.")


class ChannelOps(BaseModel):
    channel: str
    queue_depth: int | None = None
    oldest_wait_s: float | None = None
    slo_s: float | None = None
    published: int | None = Field(None, description="Figures published since the dataflow started.")
    p50_s: float | None = Field(None, description="Event age at publication, median (from the histogram).")
    p99_s: float | None = None


class PartitionLag(BaseModel):
    topic: str
    partition: int
    lag: int


class StaleLocation(BaseModel):
    location: str
    stale: bool


class RejectCount(BaseModel):
    reason: str
    source: str
    count: int


class Scraped(BaseModel):
    url: str
    up: bool
    error: str | None


class Operations(BaseModel):
    channels: list[ChannelOps]
    consumer_lag: list[PartitionLag]
    replica_lag: list[PartitionLag]
    stale_locations: list[StaleLocation]
    rejects: list[RejectCount]
    flow_metrics: list[Scraped] = Field(description="The dataflow endpoints scraped (serve --flow-metrics).")
