"""The channel registry, and where a notification goes: adding a channel is one module, one line."""

from __future__ import annotations

from collections.abc import Sequence

from config.schema import ServiceConfig
from notify.channel import Channel, NoticeKind, Target, channel_kind
from notify.channels import email, file, push, webhook

CHANNELS: tuple[Channel, ...] = (email.CHANNEL, webhook.CHANNEL, push.CHANNEL, file.CHANNEL)
# where firing alerts and digests go when no channel is configured (or none a rule asks for)
FALLBACK: Channel = file.CHANNEL


def channel_kinds() -> tuple[str, ...]:
    """The words a rule's `channels:` may use, one per registered channel."""
    return tuple(channel.kind for channel in CHANNELS)


def channel_for(stored_name: str) -> Channel | None:
    """The registered channel behind a stored name such as `email` or `webhook:<hash>`."""
    kind = channel_kind(stored_name)
    return next((channel for channel in CHANNELS if channel.kind == kind), None)


def targets_for(config: ServiceConfig, athlete_id: str | None, kind: NoticeKind,
                channels: Sequence[str] | None = None) -> list[Target]:
    """Every configured channel's targets, else the fallback's; a rule's `channels` narrows them.

    `athlete_id` is None for the squad digest. A rule asking only for channels that are not
    configured still gets the fallback for a firing alert (an .eml file, never nothing), as
    does one that asks for the fallback by name.
    """
    configured = [channel for channel in CHANNELS if channel.configured(config)]
    sources = configured or [FALLBACK]
    targets = [t for channel in sources for t in channel.targets(config, athlete_id, kind)]
    if not targets and kind == "firing":
        # channels are set up, but none reaches this athlete (a push URL for Ana only, no
        # address for Ben): a firing alert still lands somewhere, as an .eml file
        targets = FALLBACK.targets(config, athlete_id, kind)
    if channels is None:
        return targets
    chosen = [target for target in targets if target.kind in channels]
    if not any(target.kind == FALLBACK.kind for target in chosen) and (
            FALLBACK.kind in channels or not chosen):
        chosen.extend(FALLBACK.targets(config, athlete_id, kind))
    return chosen
