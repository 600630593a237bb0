"""The alert-state machine: each (rule, athlete) goes inactive → firing → resolved, in the store.

An episode is one stored `Alert` from firing to resolved. A finding opens one, keeps it firing
(notifying again only on escalation), or resolves it. An episode (or escalation) that a silence
covers, or on stale data, or inside the rule's cooldown is recorded with why (`silenced_reason`,
and `silence_id` for a silence) but not notified; a later evaluation notifies it once when
nothing holds it back any more (the silence ended, fresh data) and the condition still holds.
A held-back episode never counts as notified for a cooldown. A resolution is told to whoever
heard of the firing, silence or not, so that a webhook receiver never keeps a stale alert open.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rules.judge import Finding
from rules.schema import SEVERITIES
from rules.silences import ActiveSilence
from store import Activity, Alert, OutboxMessage

if TYPE_CHECKING:
    from metrics import History

# what an alert's change tells the channels: it fired (or got worse), or it resolved
NoticeKind = Literal["firing", "resolved"]
# notify's enqueue function, handed in by the caller: (session, alert, kind) -> None
Enqueue = Callable[[Session, Alert, NoticeKind], None]
# builds the payload of the alert with the given id (see rules.payload.build_payload)
PayloadFor = Callable[[str], dict[str, Any]]


@dataclass
class Transition:
    """A state change the evaluation made (or, in a dry run, would make)."""

    kind: str  # fired | escalated | resolved
    finding: Finding
    alert_id: str
    notified: bool  # queued for sending now (a digest-routed alert waits for the digest)
    silenced_reason: str | None = None
    summary: str = ""
    deliver: str = "immediate"  # immediate | digest
    silence_id: str | None = None  # the silence that held it back


@dataclass(frozen=True)
class Retired:
    """An open alert resolved because its rule is no longer in force for the athlete."""

    rule_id: str
    athlete_id: str
    alert_id: str


def _severity_rank(severity: str | None) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


@dataclass
class AlertStates:
    """Moves alerts on, within one session; `enqueue` None (a dry run) notifies nothing.

    `silences` holds each athlete's silences in force at `now`, loaded once per athlete and
    evaluation pass (rules.evaluate); an athlete without an entry has none.
    """

    session: Session
    now: datetime
    max_alert_age: timedelta
    enqueue: Enqueue | None
    silences: dict[str, tuple[ActiveSilence, ...]] = field(default_factory=dict)

    def advance(self, finding: Finding, history: History,
                payload_for: PayloadFor) -> Transition | None:
        """Apply one finding to its (rule, athlete): fire, escalate, resolve, or stay quiet."""
        open_alert = self.session.scalars(select(Alert).where(
            Alert.rule_id == finding.rule.id, Alert.athlete_id == finding.athlete_id,
            Alert.resolved_at.is_(None))).first()
        if open_alert is not None and open_alert.as_of > finding.as_of:
            return None  # evaluating the past never rewrites what a later evaluation decided
        if finding.severity and open_alert is None:
            return self._fire(finding, history, payload_for)
        if finding.severity and open_alert is not None:
            return self._continue(finding, open_alert, history, payload_for)
        if open_alert is not None:
            open_alert.resolved_at = self.now
            notified = self._notify(open_alert, "resolved")
            return Transition(kind="resolved", finding=finding, alert_id=open_alert.id,
                              notified=notified, deliver=open_alert.deliver)
        return None

    def retire(self, athlete_id: str, rule_ids_in_force: list[str]) -> list[Retired]:
        """Alerts of a rule that was removed, disabled or narrowed to other athletes resolve:
        nothing will ever clear them otherwise (webhooks told of the firing hear of it)."""
        retired = []
        for orphan in self.session.scalars(select(Alert).where(
                Alert.athlete_id == athlete_id, Alert.resolved_at.is_(None),
                Alert.rule_id.not_in(rule_ids_in_force))):
            orphan.resolved_at = self.now
            self._notify(orphan, "resolved")
            retired.append(Retired(orphan.rule_id, athlete_id, orphan.id))
        return retired

    def _fire(self, finding: Finding, history: History, payload_for: PayloadFor) -> Transition:
        """A new episode, numbered after the rule's earlier ones for this athlete."""
        rule = finding.rule
        episode = (self.session.scalar(select(func.max(Alert.episode)).where(
            Alert.rule_id == rule.id, Alert.athlete_id == finding.athlete_id)) or 0) + 1
        alert_id = str(uuid.uuid4())
        payload = payload_for(alert_id)
        silenced, silence_id = self._held_back(finding, history)
        alert = Alert(id=alert_id, rule_id=rule.id, athlete_id=finding.athlete_id,
                      episode=episode, severity=finding.severity, metric=rule.metric,
                      value=finding.value, threshold=finding.threshold, as_of=finding.as_of,
                      fired_at=self.now, silenced_reason=silenced, silence_id=silence_id,
                      payload=payload, deliver=rule.delivery_for(finding.severity))
        self.session.add(alert)
        self.session.flush()
        notified = self._notify(alert, "firing")
        return Transition(kind="fired", finding=finding, alert_id=alert_id, notified=notified,
                          silenced_reason=silenced, summary=payload["summary"],
                          deliver=alert.deliver, silence_id=silence_id)

    def _continue(self, finding: Finding, alert: Alert, history: History,
                  payload_for: PayloadFor) -> Transition | None:
        """The condition still holds: quiet, unless it escalated or a held-back episode may now
        speak.

        An episode recorded silently (a silence, stale backfill data, cooldown) is notified once
        nothing holds it back while it keeps firing: the silence ended, or a new run today after
        a year of old files. An escalation a silence covers is held back the same way.
        """
        escalated = _severity_rank(finding.severity) > _severity_rank(alert.severity)
        alert.value = finding.value
        if escalated:
            alert.escalated_at = self.now  # the digest lists the rise in its week
        silenced_before = alert.silenced_reason
        # held back by a silence: its data was news then, so the silence's end does not make
        # it stale (a 4-day silence must not lose the alert to max_alert_age)
        check_stale = alert.silence_id is None
        if silenced_before and not escalated:
            reason, silence_id = self._held_back(finding, history, check_stale=check_stale)
            if reason:  # still held back: nothing to rebuild
                alert.silenced_reason, alert.silence_id = reason, silence_id
                return None
        if escalated or silenced_before:
            alert.severity, alert.threshold, alert.as_of = (finding.severity, finding.threshold,
                                                            finding.as_of)
            alert.payload = payload_for(alert.id)
            # an info nudge that became a warning is a risk now: it leaves the digest
            alert.deliver = finding.rule.delivery_for(finding.severity)
        if silenced_before:
            alert.silenced_reason, alert.silence_id = (
                self._held_back(finding, history, check_stale=check_stale) if escalated
                else (None, None))
            if alert.silenced_reason:
                return None
            alert.fired_at = self.now  # the episode is notified now; cooldowns count from here
        elif not escalated:
            return None
        elif (silence := self._silence_for(finding)) is not None:
            # the rise waits for the silence's end, then is notified as the silenced path does
            alert.silenced_reason, alert.silence_id = silence.reason, silence.id
            return Transition(kind="escalated", finding=finding, alert_id=alert.id,
                              notified=False, silenced_reason=silence.reason,
                              summary=alert.payload["summary"], deliver=alert.deliver,
                              silence_id=silence.id)
        elif self._stale_reason(finding, history):
            return None
        notified = self._notify(alert, "firing")
        return Transition(kind="escalated" if escalated else "fired", finding=finding,
                          alert_id=alert.id, notified=notified, summary=alert.payload["summary"],
                          deliver=alert.deliver)

    def _notify(self, alert: Alert, kind: NoticeKind) -> bool:
        """Queue the alert's notification unless it was held back or belongs to the digest;
        whether it is (or, in a dry run, would be) notified now.

        A resolution goes to whoever heard the firing, even when a later rise was held back by
        a silence (the outbox sends it only on channels that were told of the firing)."""
        if kind == "resolved":
            if not self._firing_sent(alert):
                return False
        elif alert.silenced_reason is not None or alert.deliver == "digest":
            return False
        if self.enqueue:
            self.enqueue(self.session, alert, kind)
        return True

    def _firing_sent(self, alert: Alert) -> bool:
        """Whether a firing of this alert was queued for some channel (or, in a dry run, would
        have been: it was not held back)."""
        if self.enqueue is None:
            return alert.silenced_reason is None and alert.deliver != "digest"
        return self.session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.alert_id == alert.id, OutboxMessage.kind == "firing").limit(1)) \
            is not None

    def _silence_for(self, finding: Finding) -> ActiveSilence | None:
        """The first of the athlete's silences in force now that covers the finding's rule."""
        return next((silence for silence in self.silences.get(finding.athlete_id, ())
                     if silence.covers(finding.rule.id, self.now)), None)

    def _held_back(self, finding: Finding, history: History,
                   check_stale: bool = True) -> tuple[str | None, str | None]:
        """Why a firing is recorded and not sent, and the silence's id when a silence is why:
        a silence first (the user's word), then stale data, then the cooldown."""
        silence = self._silence_for(finding)
        if silence is not None:
            return silence.reason, silence.id
        stale = self._stale_reason(finding, history) if check_stale else None
        return stale or self._cooldown_reason(finding), None

    def _data_time(self, finding: Finding, history: History) -> datetime | None:
        """When the data behind the finding was recorded: its newest activity, else the
        newest of the history."""
        if finding.result.activity_ids:
            newest = self.session.scalar(select(func.max(Activity.start_utc)).where(
                Activity.id.in_(finding.result.activity_ids)))
            if newest is not None:
                return newest if newest.tzinfo else newest.replace(tzinfo=UTC)
        return history.newest_data_utc

    def _stale_reason(self, finding: Finding, history: History) -> str | None:
        """Data older than max_alert_age (a backfill, a late upload) is recorded, not sent."""
        data_time = self._data_time(finding, history)
        if data_time is not None and self.now - data_time > self.max_alert_age:
            return (f"data from {data_time.date().isoformat()} is older than max_alert_age "
                    f"({self.max_alert_age.days} d)")
        return None

    def _cooldown_reason(self, finding: Finding) -> str | None:
        """A new episode within the rule's cooldown of the last notified one is not sent
        again."""
        earlier = [Alert.rule_id == finding.rule.id, Alert.athlete_id == finding.athlete_id,
                   Alert.silenced_reason.is_(None)]
        if finding.rule.delivery_for(finding.severity) == "immediate":
            # a nudge the digest showed was never a message: it cannot hold back a warning
            earlier.append(Alert.deliver == "immediate")
        last_notified = self.session.scalar(select(func.max(Alert.fired_at)).where(*earlier))
        if last_notified is not None and self.now - last_notified < finding.rule.cooldown:
            return ("within the rule's cooldown after the alert of "
                    f"{last_notified.date().isoformat()}")
        return None
