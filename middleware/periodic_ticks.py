"""The `periodic` actor option (periodiq's): declared here, periodiq itself loaded when a tick runs.

Hooks: `before_process_message`, for actors with a `periodic` schedule only: a tick that
starts more than `skip_delay` seconds after it was due is skipped (`PeriodiqMiddleware`'s rule,
to which it hands the message). periodiq and pendulum are imported by that first tick, not with
the broker's middleware: every process that sends makes this list and never runs a tick (about
a tenth of its start-up). The beat (`periodiq actors schedules`) reads the option from the actors.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Middleware
from dramatiq.broker import Broker, MessageProxy


class PeriodicTicks(Middleware):
    actor_options = {"periodic"}

    def __init__(self, skip_delay: int = 30) -> None:
        self.skip_delay = skip_delay
        self._periodiq: Any = None

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        actor = broker.actors.get(message.actor_name)
        if actor is None or "periodic" not in actor.options:
            return
        if self._periodiq is None:
            from periodiq import PeriodiqMiddleware  # heavy (pendulum): loaded by the first tick

            self._periodiq = PeriodiqMiddleware(skip_delay=self.skip_delay)
        self._periodiq.before_process_message(broker, message)
