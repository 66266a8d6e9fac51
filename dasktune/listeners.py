"""Listeners: what hears the controller's notifications (result logs, error files, progress
output, user callbacks), all through one dispatch, in the order they were given.

A listener's hooks run on the driver's event loop and must not block on remote storage; one
that needs I/O off the loop hands it to ``spawn_io``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .instructions import Notify
from .trial import Trial

SpawnIO = Callable[..., Awaitable[Any]]


class Listener:
    """Base of listeners; every hook does nothing unless overridden."""

    async def before_start(self, trial: Trial) -> None:
        """A trial is about to start (or resume) on a worker; runs before its first call."""

    def on_note(self, note: Notify, trials: list[Trial], iteration: int) -> None:
        """The controller notified ``note``; ``iteration`` counts events handled so far."""

    def on_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """The driver's housekeeping turn begins (about once a second, and when a trial
        ends)."""

    def after_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """The housekeeping turn's instructions were carried out."""

    async def on_run_end(self, trials: list[Trial]) -> None:
        """The run ended (also on errors and Ctrl-C): flush and close."""


class Listeners(Listener):
    """Several listeners as one, called in order."""

    def __init__(self, listeners: list[Listener]) -> None:
        self._listeners = list(listeners)

    async def before_start(self, trial: Trial) -> None:
        """Each listener's ``before_start``, in order."""
        for listener in self._listeners:
            await listener.before_start(trial)

    def on_note(self, note: Notify, trials: list[Trial], iteration: int) -> None:
        """Each listener's ``on_note``, in order."""
        for listener in self._listeners:
            listener.on_note(note, trials, iteration)

    def on_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """Each listener's ``on_tick``, in order."""
        for listener in self._listeners:
            listener.on_tick(now, trials, iteration)

    def after_tick(self, now: float, trials: list[Trial], iteration: int) -> None:
        """Each listener's ``after_tick``, in order."""
        for listener in self._listeners:
            listener.after_tick(now, trials, iteration)

    async def on_run_end(self, trials: list[Trial]) -> None:
        """Every listener's ``on_run_end`` at once (each waits on storage within one deadline:
        in turn, their deadlines would add up); the first error is raised after all ended."""
        outcomes = await asyncio.gather(
            *(listener.on_run_end(trials) for listener in self._listeners),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
