"""`run_cycle` with an injected clock, evaluator and channels: no network, no sleep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slo_engine.compiler.rules import windows_of
from slo_engine.daemon.config import DaemonConfig, PrometheusConfig, Route
from slo_engine.daemon.cycle import DaemonContext, align, run_cycle
from slo_engine.errors import QueryError
from slo_engine.evaluate.prometheus import BudgetState
from slo_engine.model import Severity
from slo_engine.notify import Delivery, DeliveryError, NotificationState, RetryPolicy

from .conftest import SPEC, write_spec

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class FakeEvaluator:
    """Answers with the error ratio set per SLO id, or fails like Prometheus would."""

    def __init__(self) -> None:
        self.queries = 0
        self.ratio: dict[str, float] = {}
        self.down = False

    def evaluate(self, slos, at):
        self.queries = 1
        if self.down:
            raise QueryError("Prometheus at http://127.0.0.1:1 did not answer")
        states = []
        for slo in slos:
            ratio = self.ratio.get(slo.slo_id, 0.0)
            ratios = {window: ratio for window in windows_of(slo)}
            states.append(BudgetState(slo, at, ratios))
        return states


class Channel:
    """A notifier that records what it took, or refuses while `down`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent = []
        self.down = False

    def send(self, notification, *, reply_to=None):
        if self.down:
            raise DeliveryError("answered HTTP 503", target=self.name, retryable=True)
        self.sent.append(notification)
        return Delivery(self.name)


@pytest.fixture
def world(tmp_path):
    """A config with a pager and a ticket channel, and the fakes behind them."""
    specs = write_spec(tmp_path)
    config = DaemonConfig(
        path=tmp_path / "daemon.yaml",
        prometheus=PrometheusConfig("http://127.0.0.1:1"),
        specs=(specs,),
        state_file=tmp_path / "state.db",
        interval=MINUTE,
        query_retries=2,
        unknown_after=2,
        retry_policy=RetryPolicy(base_delay=timedelta(seconds=1)),
        routes=(
            Route(("pager",), frozenset({Severity.PAGE})),
            Route(("tickets",), frozenset({Severity.TICKET})),
        ),
    )
    clock, evaluator = Clock(), FakeEvaluator()
    pager, tickets = Channel("pager"), Channel("tickets")
    sleeps: list[float] = []

    def context() -> DaemonContext:
        return DaemonContext(
            config,
            evaluator=evaluator,
            notifiers=[pager, tickets],
            clock=clock,
            sleep=sleeps.append,
        )

    class World:
        pass

    world = World()
    world.__dict__.update(
        config=config,
        clock=clock,
        evaluator=evaluator,
        pager=pager,
        tickets=tickets,
        sleeps=sleeps,
        context=context,
        specs=specs,
    )
    return world


def cycle(world, context, minutes: int):
    """Run the cycle scheduled `minutes` after T0, a few seconds late."""
    world.clock.now = T0 + minutes * MINUTE + timedelta(seconds=3)
    return run_cycle(context, align(world.clock.now, MINUTE))


def test_a_burning_slo_pages_once_and_resolves_when_the_burn_stops(world):
    context = world.context()
    world.evaluator.ratio["chat-availability"] = 1 / 6

    results = [cycle(world, context, minute) for minute in range(3)]
    world.evaluator.ratio["chat-availability"] = 0.0
    results.append(cycle(world, context, 3))

    assert [n.state for n in world.pager.sent] == [
        NotificationState.FIRING,
        NotificationState.RESOLVED,
    ]
    page = world.pager.sent[0]
    assert page.slo_id == "chat-availability"
    assert page.burn_rate == pytest.approx(1 / 6 / 0.01)
    assert (page.long_window, page.short_window) == (timedelta(hours=1), MINUTE * 5)
    assert page.error_budget_remaining == pytest.approx(1 - 1 / 6 / 0.01)
    assert page.runbook_url == "https://runbooks.example.com/chat"
    assert page.incident_started_at == T0
    assert dict(page.labels) == {"team": "llm"}
    assert world.pager.sent[1].dedup_key == page.dedup_key
    assert [r.notifications for r in results] == [2, 0, 0, 2]
    assert all(r.ok for r in results)


def test_a_retried_cycle_after_a_restart_pages_nobody_twice(world):
    world.evaluator.ratio["chat-availability"] = 1 / 6
    first = world.context()
    cycle(world, first, 0)
    first.close()

    again = world.context()
    retried = cycle(world, again, 0)

    assert retried.notifications == 0
    assert len(world.pager.sent) == 1
    assert len(world.tickets.sent) == 1


def test_an_unreadable_prometheus_leaves_slos_unknown_and_opens_a_ticket(world):
    context = world.context()
    world.evaluator.ratio["chat-availability"] = 1 / 6
    cycle(world, context, 0)
    world.evaluator.down = True

    failed = [cycle(world, context, minute) for minute in (1, 2)]

    assert [r.unknown for r in failed] == [2, 2]
    assert [r.ok for r in failed] == [False, False]
    assert world.sleeps == [2.0, 2.0, 2.0, 2.0]  # two retries per cycle
    assert [n.state for n in world.pager.sent] == [NotificationState.FIRING]
    ticket = world.tickets.sent[-1]
    assert (ticket.slo_id, ticket.state) == (
        "slo-engine-evaluation",
        NotificationState.FIRING,
    )
    assert ticket.alertname == "SloEngineCannotEvaluate"

    world.evaluator.down = False
    back = cycle(world, context, 3)

    assert back.ok
    assert world.tickets.sent[-1].slo_id == "slo-engine-evaluation"
    assert world.tickets.sent[-1].state is NotificationState.RESOLVED
    assert len(world.pager.sent) == 1  # still burning: no resolve, no second page


def test_a_spec_that_becomes_invalid_keeps_the_last_good_slos(world):
    context = world.context()
    cycle(world, context, 0)
    spec = world.specs / "chat.yaml"
    spec.write_text(SPEC.replace("objective: 99\n", "objective: 101\n", 1))

    broken = cycle(world, context, 1)
    spec.write_text(SPEC)
    fixed = cycle(world, context, 2)

    assert broken.slos == 2
    assert broken.spec_error is not None
    assert broken.spec_error.startswith(f"{spec}:6:16: slos[0].objective: ")
    assert not broken.ok
    assert fixed.spec_error is None
    assert fixed.ok


def test_a_channel_down_for_several_cycles_gets_the_page_once_when_back(world):
    context = world.context()
    world.evaluator.ratio["chat-availability"] = 1 / 6
    world.pager.down = True

    down = [cycle(world, context, minute) for minute in range(4)]
    world.pager.down = False
    back = cycle(world, context, 10)

    assert sum(r.delivery.retried for r in down) >= 3
    assert back.delivery.sent == 1
    assert [n.state for n in world.pager.sent] == [NotificationState.FIRING]
    assert context.outbox.depth() == 0


def test_an_open_ticket_is_reminded_after_the_reminder_interval(world):
    context = world.context()
    world.evaluator.ratio["chat-availability"] = 0.04  # tickets only: 4x

    cycle(world, context, 0)
    cycle(world, context, 60 * 23)
    cycle(world, context, 60 * 24)

    assert world.pager.sent == []
    assert [n.state for n in world.tickets.sent] == [NotificationState.FIRING] * 2
    first, reminder = world.tickets.sent
    assert reminder.dedup_key == first.dedup_key
    assert reminder.timestamp == T0 + timedelta(hours=24)
