"""Running evals on the server, not in a tab: closing the tab does not stop one, only Stop.

One runner per process, built at start-up. An eval runs a few cases at a time (each case a
comparison of every preset × samples, through the same fan-out as any comparison) so that
about KNOBS_EVAL_PARALLEL requests are in flight; each finished cell is saved at once
(app/storage/evals.py). A heartbeat says the runner is alive and reads Stop back, so Stop from
any replica reaches it within a beat. On shutdown the runner marks its evals interrupted, and
Resume, on any replica, runs only the cells that are missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable

from anyio.to_thread import run_sync

from app.engine.endpoints import Upstreams
from app.engine.evals.definition import EvalRequest
from app.engine.events import ColumnDone
from app.engine.fanout import NEVER_SENT, STOPPED, stream_comparison
from app.engine.prices import PriceList
from app.engine.results import Column
from app.guard.limits import ComparisonLimiter
from app.settings import Settings
from app.storage.evals import HEARTBEAT_SECONDS, EvalStore, Status, StoredEval
from app.storage.outages import StoreUnavailable
from app.web.comparisons import Caller, reviewed

log = logging.getLogger("knobs.evals")
# A cell that could not be saved is tried again this often before the eval is given up
# (and shown as interrupted: Resume runs what is missing).
SAVE_ATTEMPTS = 3


class EvalRunner:
    """Start, stop, resume and wait for evals; holds the tasks this process runs."""

    def __init__(
        self,
        store: EvalStore,
        upstreams: Upstreams,
        limiter: ComparisonLimiter,
        settings: Settings,
        prices_for: Callable[[Column], PriceList],
    ) -> None:
        self.store = store
        self.upstreams = upstreams
        self.limiter = limiter
        self.settings = settings
        self.prices_for = prices_for
        self.runner = secrets.token_hex(8)  # this process, as the evals table names it
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.stops: dict[str, asyncio.Event] = {}

    async def start(self, request: EvalRequest, caller: Caller) -> str:
        """Save the eval and start it; its id. Charged as one comparison to the caller."""
        await self.limiter.charge(caller.client)
        eval_id = await run_sync(self.store.create, request, self.runner, caller.author or None)
        self._launch(eval_id, request, [(c, None) for c in range(len(request.cases))])
        return eval_id

    async def resume(self, eval_id: str, caller: Caller) -> StoredEval | None:
        """Run an interrupted or stopped eval's missing cells here; None when it cannot be
        resumed (finished, running elsewhere, unknown)."""
        await self.limiter.charge(caller.client)
        claimed = await run_sync(self.store.claim, eval_id, self.runner)
        if claimed is None:
            return None
        todo: list[tuple[int, list[int] | None]] = list(claimed.missing())
        self._launch(eval_id, claimed.request, todo)
        return claimed

    async def stop(self, eval_id: str) -> bool:
        """Stop from anywhere: the flag in the store (read back by the runner's next beat),
        and at once if it runs here."""
        asked = await run_sync(self.store.request_stop, eval_id)
        if eval_id in self.stops:
            self.stops[eval_id].set()
        return asked

    async def wait(self, eval_id: str) -> None:
        """Until the eval this process runs under `eval_id` ends."""
        task = self.tasks.get(eval_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    async def aclose(self) -> None:
        """Shutting down: every eval running here is marked interrupted, to be resumed."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _launch(
        self, eval_id: str, request: EvalRequest, todo: list[tuple[int, list[int] | None]]
    ) -> None:
        stop = self.stops[eval_id] = asyncio.Event()
        task = asyncio.create_task(self._run(eval_id, request, todo, stop), name=f"eval {eval_id}")
        self.tasks[eval_id] = task
        task.add_done_callback(lambda _task: self._forget(eval_id, task))

    def _forget(self, eval_id: str, task: asyncio.Task[None]) -> None:
        if self.tasks.get(eval_id) is task:
            del self.tasks[eval_id]
            self.stops.pop(eval_id, None)

    async def _run(
        self,
        eval_id: str,
        request: EvalRequest,
        todo: list[tuple[int, list[int] | None]],
        stop: asyncio.Event,
    ) -> None:
        per_case = len(request.presets) * request.samples
        at_once = max(1, self.settings.eval_parallel // per_case)
        gate = asyncio.Semaphore(at_once)
        lost = asyncio.Event()  # another process took the eval over, or it was deleted
        beats = asyncio.create_task(self._beat(eval_id, stop, lost))
        status: Status = "interrupted"
        try:
            cases = [
                asyncio.create_task(self._case(eval_id, request, case, presets, gate, stop))
                for case, presets in todo
            ]
            try:
                await asyncio.gather(*cases)
            finally:
                for task in cases:
                    task.cancel()
                await asyncio.gather(*cases, return_exceptions=True)
            status = "stopped" if stop.is_set() else "finished"
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        except Exception:
            log.exception("eval %s gave up", eval_id)
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
            if not lost.is_set():
                with contextlib.suppress(Exception):
                    await asyncio.shield(run_sync(self.store.end, eval_id, self.runner, status))
            log.info("eval %s %s", eval_id, status)

    async def _beat(self, eval_id: str, stop: asyncio.Event, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                asked = await run_sync(self.store.beat, eval_id, self.runner)
            except StoreUnavailable as error:
                log.warning("eval %s: no heartbeat: %s", eval_id, error)
                continue
            if asked is None:
                lost.set()
                stop.set()
                return
            if asked:
                stop.set()

    async def _case(
        self,
        eval_id: str,
        request: EvalRequest,
        case: int,
        presets: list[int] | None,
        gate: asyncio.Semaphore,
        stop: asyncio.Event,
    ) -> None:
        """One case under the presets it still needs; each cell saved as it finishes."""
        async with gate:
            if stop.is_set():
                return
            indexes = presets if presets is not None else list(range(len(request.presets)))
            compare = request.comparison(case, indexes)
            fanout = stream_comparison(compare, self.upstreams, stop, live=False)
            # Cells only: an eval's figures compare presets across cases, not in one case.
            events = reviewed(fanout, self.prices_for, matrix=False)
            try:
                async for event in events:
                    if isinstance(event, ColumnDone) and not _cut_short(event.result):
                        await self._save(eval_id, case, indexes[event.column], event.result)
            finally:
                await events.aclose()

    async def _save(self, eval_id: str, case: int, preset: int, column: Column) -> None:
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                await run_sync(self.store.save_cell, eval_id, case, preset, column)
                return
            except StoreUnavailable as error:
                log.warning("eval %s: cell not saved (%d): %s", eval_id, attempt, error)
                if attempt == SAVE_ATTEMPTS:
                    raise
                await asyncio.sleep(attempt)


def _cut_short(column: Column) -> bool:
    """A column Stop cut short is not a cell: Resume runs it again, whole."""
    return any(s.error in (STOPPED, NEVER_SENT) for s in column.samples)
