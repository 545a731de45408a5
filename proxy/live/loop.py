"""The live reconciler: load → validate → plan → apply of the config while the gateway serves.

Owned by the app's lifespan when `muxgate serve DIR` runs. Each reconcile records the revision it reads, loads
and validates the whole tree in a worker thread (parsed files cached across runs), plans against what the gateway
serves, builds the new registry beside the running one and swaps `gateway.registry` in one assignment: requests in
flight finish on the snapshot they started with. A failure at any stage applies nothing; the last good config keeps
serving and the status says why (`proxy.live.status`). Every apply is saved in the data dir (`proxy.statefile`), so
a restart with a broken directory serves the last good config.

The tree comes from the directory (pull mode) or from a push through the admin API (`proxy.live.push`, on a
gateway that does not watch); from there on both take the same path.

    bootstrap()        at start-up, before serving: the registry to serve (the directory's, or the last good one)
    reconcile_once()   one attempt on the directory, serialised with any other
    apply_push(push)   one attempt on pushed files, serialised likewise
    lifespan(app)      runs the watcher (`proxy.live.watch`) while the app runs, if `settings.watch`
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from proxy.gateway import Gateway
from proxy.live.lifecycle import Inventory, next_inventory, running_state
from proxy.live.report import StatusBoard, count, errors_of
from proxy.live.status import Reason, ReconcileStatus, describe
from proxy.live.watch import Watcher
from proxy.registry import Registry, build_registry
from proxy.settings import Settings
from proxy.statefile import LastApplied, StateFileError, iso_utc
from proxy.statefile import load as load_state
from proxy.statefile import save as save_state
from reconciler.check import Checked, check_dir, check_files
from reconciler.gitsource import revision as git_revision
from reconciler.loader import ParseCache
from reconciler.models import DEFAULT_WORKSPACE
from reconciler.plan import Plan, PlanError, diff
from reconciler.state import DesiredState

log = logging.getLogger("muxgate.live")

# Diagnostic codes that mean the directory itself is not there, as opposed to a config mistake in it.
_SOURCE_MISSING = frozenset({"dir-missing", "dir-not-directory"})
# How status sentences, log lines and plan reasons name a tree that came through the admin API.
PUSHED = "the pushed config"

RegistryBuilder = Callable[..., Registry]


@dataclass(frozen=True, slots=True)
class Applied:
    """One applied reconcile, as listeners receive it."""

    revision: str | None
    applied_at: datetime
    state_hash: str
    plan: Plan


@dataclass(frozen=True, slots=True)
class Pushed:
    """A config tree handed over through the admin API, reconciled in place of the directory's."""

    files: tuple[tuple[str, bytes], ...]  # (path relative to the tree's root, content)
    revision: str | None
    prune: bool = False  # delete archived workspaces in this apply, as MUXGATE_PRUNE_ARCHIVED does in every one


@dataclass(frozen=True, slots=True)
class Startup:
    """What `muxgate serve` serves: `registry` is None when there is nothing to serve; `notice` is the sentence to
    print (why nothing is served, or that the last good config is served instead of the broken directory)."""

    checked: Checked
    registry: Registry | None
    notice: str | None = None


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A validated directory, planned and compiled, ready to be swapped in."""

    desired: DesiredState
    running: DesiredState
    inventory: Inventory
    plan: Plan
    registry: Registry | None  # None when the running state is unchanged (nothing to build)


def _now() -> datetime:
    return datetime.now(UTC)


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def _source_missing(checked: Checked) -> bool:
    return any(d.code in _SOURCE_MISSING for d in checked.diagnostics)


class LiveReconciler:
    """Keeps a gateway serving what `settings.config_dir` declares, or what was pushed to it; see the module
    docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        build: RegistryBuilder = build_registry,
        poll_interval: float = 0.5,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.directory = Path(settings.config_dir)
        self.data_dir = Path(settings.data_dir)
        self.prune = settings.prune_archived
        self.watch_enabled = settings.watch
        self._build = build
        self._clock = clock
        self._cache = ParseCache()
        self._inventory: Inventory = MappingProxyType({})
        self._desired: DesiredState | None = None
        self._applied_at: datetime | None = None
        self._gateway: Gateway | None = None
        self._board = StatusBoard(self.directory)
        self._listeners: list[Callable[[Applied], None]] = []
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_applied: Applied | None = None
        # Counters for tests and benchmarks: attempts, and attempts that swapped the registry.
        self.reconciles = 0
        self.applies = 0
        self.watcher = Watcher(
            self.directory,
            on_change=self._reconcile_logged,
            on_missing=self._report_missing,
            debounce_ms=settings.debounce_ms,
            poll_interval=poll_interval,
        )

    # --- status ---------------------------------------------------------------------------------------------

    @property
    def status(self) -> ReconcileStatus:
        return self._board.status

    def wait_for(self, predicate: Callable[[ReconcileStatus], bool], timeout: float = 10.0) -> ReconcileStatus:
        """Block until `predicate(status)` holds after a reconcile; for other threads (tests), never the app's loop.

        TimeoutError names the last status when it does not hold within `timeout` seconds."""
        return self._board.wait_for(predicate, timeout)

    def add_listener(self, listener: Callable[[Applied], None]) -> None:
        """Call `listener` on the event loop after every apply (for example to record the revision)."""
        self._listeners.append(listener)

    # --- start-up -------------------------------------------------------------------------------------------

    def bootstrap(self) -> Startup:
        """Read the directory and the last applied state, and decide what to serve; before the event loop runs."""
        last = self._load_last_applied()
        if last is not None and last.pushed and not self.watch_enabled:
            startup = self._serve_pushed(last)
            if startup is not None:
                return startup
        attempted = git_revision(self.directory)
        checked = check_dir(self.directory, self._cache)
        if checked.state is None:
            missing = _source_missing(checked)
            reason = Reason.SOURCE_UNAVAILABLE if missing else Reason.VALIDATION_FAILED
            errors = count(len(errors_of(checked.diagnostics)), "error")
            problem = (
                f"{self.directory} is not a readable directory"
                if missing
                else f"{self.directory} is invalid ({errors})"
            )
            return self._serve_last(checked, attempted, last, reason, problem)
        current = running_state(last.desired, last.inventory, prune=self.prune) if last is not None else None
        if last is not None:
            self._inventory = last.inventory
        try:
            candidate = self._candidate(checked.state, current, attempted, force_build=True)
        except Exception as exc:
            label = describe(attempted, checked.state.hash)
            log.debug("Building the registry for %s failed", label, exc_info=True)
            problem = f"the registry for {label} could not be built ({exc})"
            return self._serve_last(checked, attempted, last, Reason.APPLY_FAILED, problem)
        assert candidate.registry is not None
        self._commit(candidate, candidate.registry, checked)
        return Startup(checked, candidate.registry)

    def _serve_last(
        self, checked: Checked, attempted: str | None, last: LastApplied | None, reason: Reason, problem: str
    ) -> Startup:
        """The directory cannot be served at start-up: serve the last good state, if there is one."""
        if last is None:
            return Startup(checked, None, self._board.nothing_to_serve(reason, attempted, checked.diagnostics, problem))
        running = running_state(last.desired, last.inventory, prune=self.prune)
        try:
            registry = self._build(running, revision=last.revision)
        except Exception as exc:
            log.debug("Building the registry of the last good state failed", exc_info=True)
            notice = f"muxgate: {problem}, and the last good state cannot be served either ({exc})."
            return Startup(checked, None, notice)
        self._desired, self._inventory, self._applied_at = last.desired, last.inventory, last.applied_at
        notice = self._board.serving_last_good(
            reason, attempted, checked.diagnostics, problem, registry, last.applied_at
        )
        return Startup(checked, registry, notice)

    def _serve_pushed(self, last: LastApplied) -> Startup | None:
        """A gateway that takes pushes starts with what was pushed last: it replaced what the directory held when
        the gateway started before. None when it cannot be built (the directory is read instead)."""
        running = running_state(last.desired, last.inventory, prune=self.prune)
        try:
            registry = self._build(running, revision=last.revision)
        except Exception as exc:
            log.warning("The last pushed state cannot be served (%s); %s is read instead.", exc, self.directory)
            return None
        self._desired, self._inventory, self._applied_at = last.desired, last.inventory, last.applied_at
        self._board.succeeded(registry, last.revision, (), last.applied_at)
        label = describe(registry.revision, registry.state_hash)
        notice = (
            f"muxgate: serving the last pushed {label}, applied at {iso_utc(last.applied_at)}; {self.directory} "
            "is not read while the gateway takes pushes (push it to serve it again)."
        )
        return Startup(check_files(()), registry, notice)

    def _load_last_applied(self) -> LastApplied | None:
        try:
            last = load_state(self.data_dir)
        except StateFileError as exc:
            log.warning("The last applied state is not used: %s", exc)
            return None
        if last is None:
            return None
        here = str(self.directory.resolve())
        if last.config_dir != here:
            log.warning(
                "The last applied state in %s came from %s, not %s; it is not used, and the next apply replaces it.",
                self.data_dir,
                last.config_dir,
                here,
            )
            return None
        return last

    # --- serving --------------------------------------------------------------------------------------------

    def bind(self, gateway: Gateway) -> None:
        """Attach the gateway whose registry this reconciler swaps (create_app does it)."""
        self._gateway = gateway
        if self._desired is None and not self._inventory:
            # Not bootstrapped: what the gateway already serves is all there is to remember.
            self._inventory = next_inventory(gateway.registry.state, {}, prune=False)
        self._fall_back_if_inactive(gateway, gateway.registry)

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """Run the watcher while the app runs (when `settings.watch`); stop it promptly on shutdown."""
        self._loop = asyncio.get_running_loop()
        if self.watch_enabled:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self.watcher.run(self._stop), name="muxgate-watch")
        try:
            yield
        finally:
            await self.stop()

    async def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            try:
                # The watcher notices the stop event within a step (50 ms); a reconcile in progress finishes first.
                await asyncio.wait_for(self._task, timeout=5)
            except TimeoutError:
                log.warning("The watcher did not stop within 5 s; it was cancelled.")
            finally:
                self._task = None

    def request_reconcile(self) -> concurrent.futures.Future[ReconcileStatus]:
        """Run `reconcile_once` on the app's event loop, from any other thread (the app must be running)."""
        if self._loop is None:
            raise RuntimeError("The app is not running; start it (its lifespan) before asking for a reconcile.")
        return asyncio.run_coroutine_threadsafe(self.reconcile_once(), self._loop)

    async def _reconcile_logged(self) -> None:
        try:
            await self.reconcile_once()
        except Exception:
            # A bug, not a config problem: the watcher must survive it, and the next change tries again.
            log.exception("Reconciling %s failed unexpectedly; the running config is unchanged", self.directory)

    async def _report_missing(self) -> None:
        async with self._lock:
            # No revision can be read from a directory that is not there.
            self._board.missing(None, self._serving(), self._applied_at)

    def _serving(self) -> Registry | None:
        return self._gateway.registry if self._gateway is not None else None

    # --- one reconcile --------------------------------------------------------------------------------------

    async def reconcile_once(self) -> ReconcileStatus:
        """Load, validate, plan and apply the directory once; the new status (also in `status`)."""
        status, _ = await self._reconcile(None)
        return status

    async def apply_push(self, push: Pushed) -> tuple[ReconcileStatus, Plan | None]:
        """Validate, plan and apply pushed files as a reconcile of the directory would: the new status, and the
        plan when it was applied or changed nothing (None when the files are invalid or could not be built).

        Only for a gateway that does not watch its directory: the watcher would replace the pushed config with
        the directory's at its next change (the admin API answers 409 before calling this)."""
        return await self._reconcile(push)

    async def _reconcile(self, push: Pushed | None) -> tuple[ReconcileStatus, Plan | None]:
        gateway = self._gateway
        if gateway is None:
            raise RuntimeError("The reconciler has no gateway; pass it to create_app(..., live=...) first.")
        async with self._lock:
            self.reconciles += 1
            current = gateway.registry
            # One hop to a worker thread for all the CPU work: each hop back waits for the event loop, which is
            # busy serving requests.
            started = time.perf_counter()
            attempted, checked, outcome = await asyncio.to_thread(self._attempt, current.state, push)
            if outcome is None:
                if _source_missing(checked):
                    self._board.missing(attempted, current, self._applied_at)
                else:
                    subject = None if push is None else PUSHED
                    self._board.invalid(attempted, checked.diagnostics, current, self._applied_at, subject=subject)
                return self.status, None
            if isinstance(outcome, Exception):
                label = describe(attempted, checked.state.hash if checked.state else None)
                log.debug("Building the registry for %s failed", label, exc_info=outcome)
                problem = f"the registry for {label} could not be built ({outcome})"
                self._board.failed(
                    Reason.APPLY_FAILED, attempted, checked.diagnostics, problem, current, self._applied_at
                )
                return self.status, None
            candidate = outcome
            if candidate.registry is not None:
                registry = candidate.registry
            elif attempted != current.revision or candidate.running.origins != current.state.origins:
                # Same meaning, new name (a commit of what was already applied as "-dirty", a file renamed):
                # the compiled registry is reused as is.
                registry = dataclasses.replace(current, state=candidate.running, revision=attempted)
            else:
                log.debug("%s: no changes", describe(attempted, candidate.running.hash))
                self._board.succeeded(current, attempted, checked.diagnostics, self._applied_at)
                return self.status, candidate.plan
            # The apply: one assignment. Requests that already read the old registry finish on it.
            gateway.registry = registry
            log.debug("%s swapped in %.0f ms after the reconcile began", registry.revision, _ms(started))
            self._fall_back_if_inactive(gateway, registry)
            await asyncio.to_thread(self._commit, candidate, registry, checked, pushed=push is not None)
            if candidate.registry is not None and self.last_applied is not None:
                self._notify(self.last_applied)
            return self.status, candidate.plan

    def _attempt(
        self, current: DesiredState, push: Pushed | None
    ) -> tuple[str | None, Checked, _Candidate | Exception | None]:
        """Record the revision, load, validate, plan and build: (revision, checked, candidate); the candidate is
        None when the tree is invalid, the exception when the registry could not be built. Worker thread."""
        started = time.perf_counter()
        if push is None:
            attempted = git_revision(self.directory)
            log.debug("revision %s named in %.0f ms", attempted, _ms(started))
            started = time.perf_counter()
            self._board.progressing(attempted)
            checked = check_dir(self.directory, self._cache)
            source, prune = str(self.directory), self.prune
        else:
            attempted = push.revision
            self._board.progressing(attempted, subject=PUSHED)
            checked = check_files(push.files, self._cache)
            source, prune = PUSHED, self.prune or push.prune
        log.debug("%s read and validated in %.0f ms", source, _ms(started))
        if checked.state is None:
            return attempted, checked, None
        try:
            return attempted, checked, self._candidate(checked.state, current, attempted, prune=prune, source=source)
        except Exception as exc:
            return attempted, checked, exc

    def _candidate(
        self,
        desired: DesiredState,
        current: DesiredState | None,
        attempted: str | None,
        *,
        force_build: bool = False,
        prune: bool | None = None,
        source: str | None = None,
    ) -> _Candidate:
        """Plan `desired` against `current` and compile it, unless the running state would not change. CPU work.

        `prune` defaults to the gateway's setting; `source` names where `desired` was declared (the directory)."""
        prune = self.prune if prune is None else prune
        running = running_state(desired, self._inventory, prune=prune)
        try:
            plan = diff(
                desired,
                current,
                prune=prune,
                source_label=source or str(self.directory),
                current_label="the running gateway",
            )
        except PlanError as exc:
            raise RuntimeError(str(exc)) from exc
        inventory = next_inventory(desired, self._inventory, prune=prune)
        unchanged = current is not None and running.hash == current.hash
        registry = None if unchanged and not force_build else self._build(running, revision=attempted)
        return _Candidate(desired, running, inventory, plan, registry)

    def _commit(self, candidate: _Candidate, registry: Registry, checked: Checked, *, pushed: bool = False) -> None:
        """Record an apply: remember it, save it in the data dir, mark Ready. Runs in a worker thread (it writes)."""
        self._applied_at = self._clock()
        self._desired, self._inventory = candidate.desired, candidate.inventory
        last = LastApplied(
            config_dir=str(self.directory.resolve()),
            revision=registry.revision,
            applied_at=self._applied_at,
            desired=candidate.desired,
            inventory=candidate.inventory,
            pushed=pushed,
        )
        try:
            save_state(self.data_dir, last)
        except OSError as exc:
            log.warning(
                "Saving the applied state in %s failed (%s); a restart with a broken config will not find it. "
                "Check that the data dir is writable.",
                self.data_dir,
                exc,
            )
        if candidate.registry is not None:
            self.applies += 1
            self.last_applied = Applied(registry.revision, self._applied_at, registry.state_hash, candidate.plan)
            self._board.applied(candidate.plan, registry)
        self._board.succeeded(registry, registry.revision, checked.diagnostics, self._applied_at)

    def _fall_back_if_inactive(self, gateway: Gateway, registry: Registry) -> None:
        name = gateway.active_workspace
        workspace = registry.workspaces.get(name)
        if workspace is not None and not workspace.archived:
            return
        why = "is archived" if workspace is not None else "no longer exists"
        log.warning(
            'The active workspace "%s" %s; requests that name no workspace now go to "%s".',
            name,
            why,
            DEFAULT_WORKSPACE,
        )
        gateway.active_workspace = DEFAULT_WORKSPACE

    def _notify(self, applied: Applied) -> None:
        for listener in self._listeners:
            try:
                listener(applied)
            except Exception:
                log.exception("A listener of applied revisions failed; the apply itself succeeded")
