"""The channel stages: location snapshots in, throttled per-channel publications out.

    snapshots --(key: shard of sku)--> channel_figures --+--> publications -------------+
                                                          +--(key: kit)--> kit_figures --+
                                                                                         v
                                   (key: channel) publish: rate limit + coalescing --> sinks

The channel stage is keyed by a shard of the SKU rather than the SKU itself so that
location-wide changes (staleness) and policy reloads can reach every SKU: they are
sent once to each shard.
"""

from __future__ import annotations

import pickle
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import StatefulBatchLogic

from operators.policy import Policy
from operators.publication import ChannelPublication, KitChannels, SkuChannels, Throttle
from operators.snapshot import AvailabilitySnapshot

SHARDS = 64


@dataclass(frozen=True)
class KitFeed:
    kit: str
    publication: ChannelPublication


def shard_of(sku: str) -> str:
    return f"shard-{zlib.crc32(sku.encode()) % SHARDS:02d}"


class ChannelShardLogic(StatefulBatchLogic[Any, Any, bytes]):
    """The SKUs of one shard: their channel and account figures under the policy."""

    def __init__(self, policy: Policy, resume: bytes | None) -> None:
        self.policy = policy
        self.stale: frozenset[str] = frozenset()
        self.skus: dict[str, SkuChannels] = {}
        self._recompute_all = False
        if resume is not None:
            policy_version, self.stale, self.skus = pickle.loads(resume)
            self._recompute_all = policy_version != policy.version  # the file changed while we were down

    def on_batch(self, values: list[Any]) -> tuple[Iterable[Any], bool]:
        out: list[Any] = []
        if self._recompute_all:
            self._recompute_all = False
            for sku_channels in self.skus.values():
                out += sku_channels.recompute(self.policy, self.stale)
        for item in values:
            if isinstance(item, AvailabilitySnapshot):
                sku_channels = self.skus.get(item.sku)
                if sku_channels is None:
                    sku_channels = self.skus[item.sku] = SkuChannels(item.sku)
                out += sku_channels.on_snapshot(item, self.policy, self.stale)
        return self._with_kit_feeds(out), StatefulBatchLogic.RETAIN

    def _with_kit_feeds(self, pubs: list[ChannelPublication]) -> list[Any]:
        out: list[Any] = list(pubs)
        for bundle in self.policy.bundles:
            parts = {sku for sku, _ in bundle.components}
            out += [KitFeed(bundle.sku, p) for p in pubs if p.account is None and p.sku in parts]
        return out

    def snapshot(self) -> bytes:
        return pickle.dumps((self.policy.version, self.stale, self.skus), protocol=pickle.HIGHEST_PROTOCOL)


class KitLogic(StatefulBatchLogic[KitFeed, ChannelPublication, bytes]):
    """One kit (learned from its first feed: builders are not told their key)."""

    def __init__(self, policy: Policy, resume: bytes | None) -> None:
        self.bundles = {b.sku: b for b in policy.bundles}
        self.policy_version = policy.version
        self.state: KitChannels | None = pickle.loads(resume) if resume is not None else None

    def on_batch(self, values: list[KitFeed]) -> tuple[Iterable[ChannelPublication], bool]:
        if self.state is None:
            self.state = KitChannels(values[0].kit)
        bundle = self.bundles[self.state.kit]
        out: list[ChannelPublication] = []
        for feed in values:
            out += self.state.on_component(feed.publication, bundle, self.policy_version)
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes:
        return pickle.dumps(self.state, protocol=pickle.HIGHEST_PROTOCOL)


class PublishLogic(StatefulBatchLogic[ChannelPublication, ChannelPublication, bytes]):
    """One channel's publication rate limit, with coalescing while throttled. Timers
    (notify_at) release what waits, so a throttled channel never holds up another.
    The channel, and so its rate, is learned from the first publication."""

    def __init__(self, rates: dict[str, float | None], resume: bytes | None) -> None:
        self.rates = rates
        self.throttle: Throttle | None = pickle.loads(resume) if resume is not None else None

    def on_batch(self, values: list[ChannelPublication]) -> tuple[Iterable[ChannelPublication], bool]:
        now = time.time()
        if self.throttle is None:
            self.throttle = Throttle(self.rates.get(values[0].channel), refilled_at=now)
        return self.throttle.offer(values, now), StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[ChannelPublication], bool]:
        out = self.throttle.release(time.time()) if self.throttle else []
        return out, StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[ChannelPublication], bool]:
        # Finite input: what waits drains at the channel's rate before the flow ends.
        out: list[ChannelPublication] = []
        while self.throttle is not None and self.throttle.pending:
            wake = self.throttle.next_release(time.time()) or time.time()
            time.sleep(max(0.0, min(wake - time.time(), 1.0)))
            out += self.throttle.release(time.time())
        return out, StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        wake = self.throttle.next_release(time.time()) if self.throttle else None
        return None if wake is None else datetime.fromtimestamp(wake + 0.001, tz=UTC)

    def snapshot(self) -> bytes:
        return pickle.dumps(self.throttle, protocol=pickle.HIGHEST_PROTOCOL)


def channel_stages(
    snapshots: Stream[tuple[str, AvailabilitySnapshot]], policy: Policy
) -> Stream[tuple[str, ChannelPublication]]:
    """From keyed location snapshots to throttled publications keyed by channel."""
    by_shard = op.map("by_shard", snapshots, lambda kv: (shard_of(kv[1].sku), kv[1]))
    figured = op.stateful_batch("channel_figures", by_shard, lambda resume: ChannelShardLogic(policy, resume))
    kinds = op.branch(
        "kit_feed_or_publication", op.key_rm("figured_unkeyed", figured), lambda item: isinstance(item, KitFeed)
    )
    kit_keys = {b.sku for b in policy.bundles}
    kit_feeds = op.filter("known_kits", kinds.trues, lambda feed: feed.kit in kit_keys)
    kits = op.stateful_batch(
        "kit_figures",
        op.key_on("by_kit", kit_feeds, lambda feed: feed.kit),
        lambda resume: KitLogic(policy, resume),
    )
    publications = op.merge("all_publications", kinds.falses, op.key_rm("kits_unkeyed", kits))
    by_channel = op.key_on("by_channel", publications, lambda p: p.channel)
    rates = {c.name: c.max_updates_per_s for c in policy.channels}
    return op.stateful_batch("publish", by_channel, lambda resume: PublishLogic(rates, resume))
