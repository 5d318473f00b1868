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
import threading
import time
import zlib
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import StatefulBatchLogic

from connectors.policy_file import Control
from dataflows import metrics
from operators.health import LocationHealth, LocationStatus, PolicyUpdate, Watch
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
            elif isinstance(item, PolicyUpdate):
                self.policy = item.policy
                for sku_channels in self.skus.values():
                    out += sku_channels.recompute(self.policy, self.stale)
            elif isinstance(item, LocationStatus):
                self.stale = self.stale | {item.location} if item.stale else self.stale - {item.location}
                for sku_channels in self.skus.values():
                    if item.location in sku_channels.locations:
                        out += sku_channels.recompute(self.policy, self.stale)
        return self._with_kit_feeds(out), StatefulBatchLogic.RETAIN

    def _with_kit_feeds(self, pubs: list[ChannelPublication]) -> list[Any]:
        out: list[Any] = list(pubs)
        for bundle in self.policy.bundles:
            parts = {sku for sku, _ in bundle.components}
            out += [KitFeed(bundle.sku, p) for p in pubs if p.account is None and p.sku in parts]
        return out

    def snapshot(self) -> bytes:
        return pickle.dumps((self.policy.version, self.stale, self.skus), protocol=pickle.HIGHEST_PROTOCOL)


class KitLogic(StatefulBatchLogic[Any, ChannelPublication, bytes]):
    """One kit (learned from its first feed: builders are not told their key)."""

    def __init__(self, policy: Policy, resume: bytes | None) -> None:
        self.bundles = {b.sku: b for b in policy.bundles}
        self.policy_version = policy.version
        self.state: KitChannels | None = pickle.loads(resume) if resume is not None else None

    def on_batch(self, values: list[Any]) -> tuple[Iterable[ChannelPublication], bool]:
        out: list[ChannelPublication] = []
        for item in values:
            kit, payload = item
            if self.state is None:
                self.state = KitChannels(kit)
            if isinstance(payload, PolicyUpdate):
                self.bundles = {b.sku: b for b in payload.policy.bundles}
                self.policy_version = payload.policy.version
                if kit in self.bundles:
                    out += self.state.recompute(self.bundles[kit], self.policy_version)
            elif kit in self.bundles:
                out += self.state.on_component(payload.publication, self.bundles[kit], self.policy_version)
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes:
        return pickle.dumps(self.state, protocol=pickle.HIGHEST_PROTOCOL)


class PublishLogic(StatefulBatchLogic[Any, ChannelPublication, bytes]):
    """One channel's publication rate limit, with coalescing while throttled. Timers
    (notify_at) release what waits, so a throttled channel never holds up another.
    The channel, and so its rate, is learned from the first publication."""

    def __init__(self, policy: Policy, resume: bytes | None, stop: threading.Event | None = None) -> None:
        self.policy = policy
        self.stop = stop
        self.channel: str | None = None
        self.throttle: Throttle | None = pickle.loads(resume) if resume is not None else None

    def _limits(self, policy: Policy) -> None:
        """The channel's rate and low-stock threshold, from `policy`."""
        assert self.throttle is not None
        for c in policy.channels:
            if c.name == self.channel:
                self.throttle.per_s, self.throttle.low_stock = c.max_updates_per_s, c.low_stock_below
                if c.publication_slo_s is not None:
                    metrics.PUBLICATION_SLO.labels(c.name).set(c.publication_slo_s)
                else:
                    with suppress(KeyError):  # a reload dropped it
                        metrics.PUBLICATION_SLO.remove(c.name)

    def _observed(self, out: list[ChannelPublication]) -> tuple[list[ChannelPublication], bool]:
        if self.throttle is not None and self.channel is not None:
            now = time.time()
            metrics.CHANNEL_QUEUE.labels(self.channel).set(self.throttle.depth)
            metrics.CHANNEL_OLDEST_WAIT.labels(self.channel).set(self.throttle.oldest_wait(now))
            if out:
                metrics.PUBLICATION_AGE.observe_ms(int(now * 1000), (p.as_of for p in out), (self.channel,))
        return out, StatefulBatchLogic.RETAIN

    def on_batch(self, values: list[Any]) -> tuple[Iterable[ChannelPublication], bool]:
        now = time.time()
        if self.channel is None:  # the first batch, new or resumed: the running policy's limits
            self.channel = values[0][0]
            if self.throttle is None:
                self.throttle = Throttle(None, refilled_at=now)
            self._limits(self.policy)
        assert self.throttle is not None
        pubs: list[ChannelPublication] = []
        for _, item in values:
            if isinstance(item, PolicyUpdate):
                self._limits(item.policy)
            else:
                pubs.append(item)
        return self._observed(self.throttle.offer(pubs, now))

    def on_notify(self) -> tuple[Iterable[ChannelPublication], bool]:
        return self._observed(self.throttle.release(time.time()) if self.throttle else [])

    def on_eof(self) -> tuple[Iterable[ChannelPublication], bool]:
        # The input ended: what waits drains at the channel's rate before the flow ends. On a
        # requested stop it stays in state instead (recovery publishes it after a restart).
        out: list[ChannelPublication] = []
        while self.throttle is not None and self.throttle.depth:
            if self.stop is not None and self.stop.is_set():
                break
            wake = self.throttle.next_release(time.time()) or time.time()
            time.sleep(max(0.0, min(wake - time.time(), 1.0)))
            out += self.throttle.release(time.time())
        return self._observed(out)

    def notify_at(self) -> datetime | None:
        wake = self.throttle.next_release(time.time()) if self.throttle else None
        return None if wake is None else datetime.fromtimestamp(wake + 0.001, tz=UTC)

    def snapshot(self) -> bytes:
        return pickle.dumps(self.throttle, protocol=pickle.HIGHEST_PROTOCOL)


class HealthLogic(StatefulBatchLogic[Any, LocationStatus, bytes]):
    """One location's freshness: a timer fires when its authoritative source has been
    silent for the policy's `after`; its next event makes it fresh again."""

    def __init__(self, policy: Policy, resume: bytes | None) -> None:
        self.policy = policy
        self.health: LocationHealth | None = pickle.loads(resume) if resume is not None else None

    def _rule(self) -> Any:
        return self.policy.stale_rule(self.health.location) if self.health else None

    def on_batch(self, values: list[Any]) -> tuple[Iterable[LocationStatus], bool]:
        now = time.time()
        out: list[LocationStatus] = []
        for location, payload in values:
            if self.health is None:
                self.health = LocationHealth(location, since=now)
            if isinstance(payload, PolicyUpdate):
                self.policy = payload.policy
                change = self.health.check(now, self._rule())
            elif isinstance(payload, Watch):
                change = None
            else:
                change = self.health.on_arrival(payload, now, self._rule())
            if change is not None:
                out.append(change)
        return self._gauged(out), StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[LocationStatus], bool]:
        change = self.health.check(time.time(), self._rule()) if self.health else None
        return self._gauged([change] if change else []), StatefulBatchLogic.RETAIN

    def _gauged(self, changes: list[LocationStatus]) -> list[LocationStatus]:
        """Keep the location's stale gauge at its status, while a rule covers it."""
        if self.health is None:
            return changes
        if self._rule() is not None:
            metrics.STALE.labels(self.health.location).set(1 if self.health.stale else 0)
        else:
            with suppress(KeyError):  # a reload dropped its rule
                metrics.STALE.remove(self.health.location)
        return changes

    def notify_at(self) -> datetime | None:
        deadline = self.health.deadline(self._rule()) if self.health else None
        return None if deadline is None else datetime.fromtimestamp(deadline, tz=UTC)

    def snapshot(self) -> bytes:
        return pickle.dumps(self.health, protocol=pickle.HIGHEST_PROTOCOL)


def _to_every_shard(item: Any) -> list[tuple[str, Any]]:
    return [(f"shard-{i:02d}", item) for i in range(SHARDS)]


def channel_stages(
    snapshots: Stream[tuple[str, AvailabilitySnapshot]],
    policy: Policy,
    control: Stream[Control] | None = None,
    heartbeats: Stream[tuple[str, str]] | None = None,
    stop: threading.Event | None = None,
) -> Stream[tuple[str, ChannelPublication]]:
    """From keyed location snapshots to throttled publications keyed by channel.

    `heartbeats` are (location, source system) of arriving events, for staleness;
    `control` carries watch lists and policy reloads (connectors.policy_file.ControlSource).
    """
    by_shard = op.map("by_shard", snapshots, lambda kv: (shard_of(kv[1].sku), kv[1]))
    to_shards = [by_shard]
    updates = None
    if control is not None and heartbeats is not None:
        targets = op.branch("control_target", control, lambda c: c[0] == "health")
        health_in = op.merge(
            "health_inputs",
            op.map("heartbeat_values", heartbeats, lambda kv: (kv[0], (kv[0], kv[1]))),
            op.map("control_health", targets.trues, lambda c: (c[1], (c[1], c[2]))),
        )
        statuses = op.stateful_batch("location_health", health_in, lambda resume: HealthLogic(policy, resume))
        updates = op.map("policy_updates", targets.falses, lambda c: c[2])
        to_shards.append(op.flat_map("statuses_to_shards", op.key_rm("statuses", statuses), _to_every_shard))
        to_shards.append(op.flat_map("policy_to_shards", updates, _to_every_shard))
    shard_in = op.merge("shard_inputs", *to_shards)
    figured = op.stateful_batch("channel_figures", shard_in, lambda resume: ChannelShardLogic(policy, resume))
    kinds = op.branch(
        "kit_feed_or_publication", op.key_rm("figured_unkeyed", figured), lambda item: isinstance(item, KitFeed)
    )
    kit_in = [op.map("by_kit", kinds.trues, lambda feed: (feed.kit, (feed.kit, feed)))]
    publish_in = [op.map("by_channel", kinds.falses, lambda p: (p.channel, (p.channel, p)))]
    if updates is not None:
        kits_of = {b.sku for b in policy.bundles}
        channels_of = {c.name for c in policy.channels}

        def to_kits(update: PolicyUpdate) -> list[tuple[str, Any]]:
            return [(k, (k, update)) for k in kits_of | {b.sku for b in update.policy.bundles}]

        def to_channels(update: PolicyUpdate) -> list[tuple[str, Any]]:
            return [(c, (c, update)) for c in channels_of | {c.name for c in update.policy.channels}]

        kit_in.append(op.flat_map("policy_to_kits", updates, to_kits))
        publish_in.append(op.flat_map("policy_to_channels", updates, to_channels))
    kits = op.stateful_batch("kit_figures", op.merge("kit_inputs", *kit_in), lambda resume: KitLogic(policy, resume))
    publish_in.append(
        op.map("kit_publications", op.key_rm("kits_unkeyed", kits), lambda p: (p.channel, (p.channel, p)))
    )
    return op.stateful_batch(
        "publish", op.merge("publish_inputs", *publish_in), lambda resume: PublishLogic(policy, resume, stop)
    )
