"""`strideguard test-notify`: one test message per channel target, sent now and recorded.

An operator wants to know that mail, webhooks and phones work before the first real alert
(Grafana's "test contact point"). So a test goes straight through each channel's own render
and send, past the outbox: no silence holds it back, no backoff delays it, and it is never
retried (a retry would hide the failure the operator is looking for). Each send is recorded
in `notification_tests` with its status, latency and error.

Nothing returned here carries a secret: targets are named by address, a webhook's scheme,
host and port, a push URL with its tokens hidden, or a file; every cause is scrubbed of the
SMTP password, webhook secrets and URL passwords and tokens, and push URL tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config.schema import ServiceConfig
from notify.channel import DeliveryResult, Notice, Outgoing, Target, channel_kind
from notify.channels import FALLBACK, channel_for, targets_for
from notify.channels.push import channel_name as push_name
from notify.channels.push import configured_urls
from notify.channels.webhook import channel_name as webhook_name
from notify.channels.webhook import secret_parts, url_label
from notify.outbox import check_channel_kind, new_event_id
from notify.push_text import shorten
from notify.redact import MIN_FRAGMENT_CHARS, REDACTED, scrub, secret_fragments
from store import NotificationTest, Store, utc_now

CAUSE_MAX_CHARS = 300  # one line on a terminal, and still the part that says why


@dataclass(frozen=True)
class ProbeOutcome:
    """One test send as `test-notify` prints it: `target` names where it went without secrets;
    `cause` is one line (why it failed, or a remark on a success such as refused recipients)."""

    kind: str  # email | webhook | push | file
    channel: str  # the stored channel name: email, webhook:<hash>, push:<hash>, file
    target: str
    ok: bool
    status: str | None  # SMTP 250, HTTP 204, ...; None when no answer came
    latency_ms: float
    cause: str
    event_id: str


def probe_targets(config: ServiceConfig, athlete_id: str | None,
                  kind: str | None = None) -> list[Target]:
    """Where a test goes: with an athlete, what that athlete's firing alerts reach; without,
    the coach's addresses, every webhook and the coach's push URLs (an .eml file when nothing
    is configured). `kind` keeps one channel kind; ValueError when it is unknown or reaches
    nobody, and when nothing at all reaches the coach."""
    if kind is not None:
        check_channel_kind(kind)
    if athlete_id is not None:
        targets = targets_for(config, athlete_id, "firing")
    else:
        # with nothing configured this is the fallback's .eml file, as for alerts
        targets = targets_for(config, None, "test")
    if kind == FALLBACK.kind and not any(t.kind == kind for t in targets):
        # the .eml file is never "configured", so asking for it by name always gets it
        targets = [*targets, *FALLBACK.targets(config, athlete_id, "test")]
    if kind is not None:
        targets = [target for target in targets if target.kind == kind]
    if not targets:
        raise ValueError(_nothing_reaches(config, athlete_id, kind))
    return targets


def _nothing_reaches(config: ServiceConfig, athlete_id: str | None, kind: str | None) -> str:
    """Why no target was found, naming the config keys that would give one."""
    whom = f"athlete {athlete_id}" if athlete_id else "the coach"
    if kind == "email":
        if config.notify.email is None:
            return "--channel email: no email is configured (notify.email)"
        where = "the athlete's email or notify.email.to" if athlete_id else "notify.email.to"
        return f"--channel email: no address to mail {whom}: add one to {where}"
    if kind == "webhook":
        return "--channel webhook: no webhook is configured (notify.webhooks)"
    if kind == "push":
        where = "the athlete's apprise or notify.apprise" if athlete_id else "notify.apprise"
        return f"--channel push: no push URL reaches {whom}: add one to {where}"
    return (f"nothing reaches {whom}: notify.email.to is empty and no webhook or push URL "
            "is configured for the coach; pass --athlete ID to test what an athlete's alerts "
            "reach")


def probe_payload(config: ServiceConfig, athlete_id: str | None,
                  sent_at: datetime) -> dict[str, Any]:
    """The test's data: the `alert.test` webhook's `data`, and what the email and push say."""
    athlete = config.athlete(athlete_id) if athlete_id else None
    name = (athlete.name if athlete and athlete.name else athlete_id) if athlete_id else None
    summary = (f"If you can read this, StrideGuard's alerts about {name} reach you here."
               if athlete_id else "If you can read this, StrideGuard's alerts reach you here.")
    return {"test": True, "athlete": athlete_id, "athlete_name": name, "summary": summary,
            "sent_at": sent_at.isoformat(timespec="seconds").replace("+00:00", "Z")}


def send_probe(config: ServiceConfig, target: Target, athlete_id: str | None,
               now: datetime | None = None) -> ProbeOutcome:
    """Render a test for `target` with its channel and send it once; never raises for a
    channel's failure (a bug in one channel is that channel's failed line)."""
    moment = now or utc_now()
    event_id = new_event_id()
    channel = channel_for(target.channel)
    started_s = time.perf_counter()
    try:
        if channel is None:  # targets come from the registry: a bug, not a config
            raise LookupError(f"no registered channel for {target.channel}")
        notice = Notice(probe_payload(config, athlete_id, moment), athlete_id, "test", target,
                        event_id, moment)
        payload = channel.render(config, notice)
        started_s = time.perf_counter()  # the latency is the send's, not the rendering's
        result = channel.send(config, Outgoing(event_id, target.channel, target.recipients,
                                               payload))
    except Exception as exc:  # whatever it was, the other channels are still tested
        result = DeliveryResult(ok=False, reason=f"{type(exc).__name__}: {exc}")
    latency_ms = (time.perf_counter() - started_s) * 1000.0
    # a success's reason is a remark (some recipients refused), unless it only repeats the status
    remark = "" if result.ok and result.reason == result.status else result.reason
    secrets = secrets_of(config)
    return ProbeOutcome(
        kind=target.kind, channel=target.channel, event_id=event_id,
        target=scrub(target_label(config, target, event_id), secrets),
        ok=result.ok, status=result.status, latency_ms=latency_ms,
        # scrubbed before it is cut: a cut through a token would leave its start unmatched
        cause=shorten(scrub(_without_server(config, target, remark), secrets,
                            urls=target.kind == "push"), CAUSE_MAX_CHARS))


def _without_server(config: ServiceConfig, target: Target, reason: str) -> str:
    """The reason without the `server: ` it starts with when the target's label names that
    server already (the email's `host:port`, the webhook's `scheme://host:port/…`)."""
    if target.kind == "email" and config.notify.email is not None:
        email = config.notify.email
        return reason.removeprefix(f"{email.host}:{email.port}: ")
    if target.kind == "webhook":
        hook = next((h for h in config.notify.webhooks if webhook_name(h) == target.channel),
                    None)
        return reason.removeprefix(f"{url_label(hook.url)}: ") if hook else reason
    return reason


def send_probes(store: Store, config: ServiceConfig, targets: list[Target],
                athlete_id: str | None,
                report: Callable[[ProbeOutcome], None] | None = None) -> list[ProbeOutcome]:
    """Send a test to each target, one after the other, recording each as it ends and handing
    it to `report` then (a server that times out must not hide the lines before it)."""
    outcomes = []
    for target in targets:
        outcome = send_probe(config, target, athlete_id)
        record_probe(store, outcome, athlete_id)
        if report is not None:
            report(outcome)
        outcomes.append(outcome)
    return outcomes


def record_probe(store: Store, outcome: ProbeOutcome, athlete_id: str | None) -> None:
    """One `notification_tests` row, committed at once: a later crash keeps what was sent."""
    with store.session() as session:
        session.add(NotificationTest(
            event_id=outcome.event_id, channel=outcome.channel, athlete_id=athlete_id,
            ok=outcome.ok, status=outcome.status, latency_ms=round(outcome.latency_ms, 3),
            error=outcome.cause or None, sent_at=utc_now()))


def target_label(config: ServiceConfig, target: Target, event_id: str) -> str:
    """Where a test went, fit to print: the addresses (and server), the webhook or push URL
    as `channel_label` names it, or the .eml file written."""
    if target.kind == "email" and config.notify.email is not None:
        server = f"{config.notify.email.host}:{config.notify.email.port}"
        return f"{', '.join(target.recipients)} via {server}"
    if target.kind == FALLBACK.kind:
        return str(config.mail_dir / f"{event_id}.eml")
    return channel_label(config, target.channel) or target.channel


def channel_label(config: ServiceConfig, channel: str) -> str | None:
    """Which webhook or push URL a stored channel name stands for, without a secret:
    `https://hooks.example.com/… (webhook:<hash>)`, `json://host/push/<redacted> (ana's,
    push:<hash>)` (two URLs of one service differ by whose and hash); None for email and
    file, and for a name the config no longer has."""
    if channel_kind(channel) == "webhook":
        hook = next((h for h in config.notify.webhooks if webhook_name(h) == channel), None)
        return f"{url_label(hook.url)} ({channel})" if hook else None
    if channel_kind(channel) == "push":
        found = [(loc, url) for loc, url in configured_urls(config) if push_name(url) == channel]
        if not found:
            return None
        whose = " and ".join(dict.fromkeys(
            "the coach's" if loc[0] == "notify" else f"{config.athletes[int(loc[1])].id}'s"
            for loc, _url in found))
        return f"{push_label(found[0][1])} ({whose}, {channel})"
    return None


def push_label(url: str) -> str:
    """An Apprise URL with every part that may be a token hidden, the rest (scheme, host,
    port, plain words) kept so an operator can tell which one it is."""
    rest = url.partition("://")[2] or url
    parts = [fragment for fragment in secret_fragments(url) if fragment not in (url, rest)]
    label = scrub(url, parts)
    # `x://<redacted>` when the whole body was one token: say at least which service it is
    return label if label.strip() else f"{url.partition('://')[0]}://{REDACTED}"


def secrets_of(config: ServiceConfig) -> tuple[str, ...]:
    """Everything that must never be printed: the SMTP password, each webhook's secret and
    URL tokens (its password alone too: webhook.secret_parts), each push URL's tokens."""
    found: set[str] = set()
    email = config.notify.email
    if email is not None and email.password is not None:
        found.add(email.password.get_secret_value())
    for hook in config.notify.webhooks:
        found.update(secret_parts(hook))
    for _loc, url in configured_urls(config):
        found.update(secret_fragments(url))
    # shorter ones are not worth hiding everywhere (a test secret "s" would maul every line);
    # the channels already take even those out of their own reasons
    kept = (s for s in found if len(s) >= MIN_FRAGMENT_CHARS)
    return tuple(sorted(kept, key=lambda s: (-len(s), s)))
