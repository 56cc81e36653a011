"""create_app(): the routers, static files, guards, and the lifespan that builds the services.

Nothing happens on import: servers call the factory, `uvicorn --factory app.main:create_app`,
and it reads the settings then, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.access.clients import ClientAddresses
from app.access.door import AccessGuard
from app.access.hosts import HostCheck
from app.access.listening import listeners
from app.access.log_redaction import redact_access_log
from app.access.rules import Access
from app.access.throttle import SigninThrottle
from app.engine.endpoints import EMBEDDED_NAME, Upstreams, configured
from app.engine.upstream import Endpoint
from app.guard.limits import BodyLimit, ComparisonLimiter, TooManyComparisons, explain_too_many
from app.guard.origin import CrossOriginProtection
from app.guard.security_headers import SecurityHeaders
from app.guard.server_errors import ServerErrors
from app.ops import logs
from app.ops.collector import start_up_frozen
from app.ops.embedded import EmbeddedServer, find_model_file
from app.ops.metrics import Metrics
from app.settings import Settings, get_settings
from app.storage.capability_table import CapabilityTable
from app.storage.evals import EvalStore
from app.storage.keys import session_key
from app.storage.live_frames import LiveStore
from app.storage.outages import StoreUnavailable
from app.storage.rate_buckets import StoredBuckets
from app.storage.reviews import ReviewStore
from app.storage.session_book import StoredSessions
from app.storage.store import RunStore, store_url
from app.storage.sweeps import SweepStore
from app.web import (
    api,
    diff_views,
    docs,
    metrics,
    pages,
    runs,
    signin,
    stream,
)
from app.web.comparisons import C, Comparisons, Kind, SavedRuns
from app.web.errors import RETRY_AFTER_SECONDS, show_not_found, store_unavailable
from app.web.evals import api as eval_api
from app.web.evals import pages as eval_pages
from app.web.evals.running import EvalRunner
from app.web.hangup import ClientGone
from app.web.live_views import LiveComparisons
from app.web.reviews import api as review_api
from app.web.reviews import pages as review_pages
from app.web.reviews.reviewing import Reviews
from app.web.services import Services, services_of
from app.web.sweeps import api as sweep_api
from app.web.sweeps import pages as sweep_pages
from app.web.sweeps import running as sweep_running
from app.web.templating import ROOT, build_templates
from app.web.validation import explain

log = logging.getLogger("knobs")
# Well inside the HEALTHCHECK's 4 s: a database that takes longer is as good as down.
READY_TIMEOUT = 2.0
# How long start-up watches for the server's sockets, to say at once whether a login is needed.
LISTEN_WATCH_SECONDS = 10.0


async def watch_listening(access: Access) -> None:
    """Settle whether credentials are needed as soon as the server listens beyond loopback.

    uvicorn binds its sockets just after the lifespan's start-up, so this watches for them;
    a listener already there (sockets handed over, workers) counts from the start. "No login
    needed" is left to the first request (AccessGuard), when every socket is surely bound.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LISTEN_WATCH_SECONDS
    while access.required is None or not access.announced:
        found = await asyncio.to_thread(listeners)
        access.settle(found, final=False)
        if loop.time() > deadline:
            return
        await asyncio.sleep(0.1)


@asynccontextmanager
async def started(
    settings: Settings, templates: Jinja2Templates | None = None
) -> AsyncIterator[Services]:
    """Every service, built in order and complete: the store, access, the endpoint (the
    embedded model unless one is configured), live views and limits. Stopped in reverse."""
    # The store first: migrations run here, so a database problem stops start-up at once.
    store = await run_in_threadpool(RunStore, store_url(settings.database_url, settings.data_dir))
    log.info("saved runs in %s", store.where)  # the password is shown as ***
    embedded: EmbeddedServer | None = None
    try:
        # Rate limits and failed sign-ins, in one table: a client's allowance is the same
        # whichever replica it reaches, and an outage is said once.
        buckets = StoredBuckets(store.transient)
        access = Access(
            settings.access_rules,
            session_key=await run_in_threadpool(session_key, store.engine),
            # Which sessions are still open: Sign out on any replica ends one on all of them.
            book=StoredSessions(store.engine),
            throttle=SigninThrottle(buckets),
        )
        configs = configured(settings)  # EndpointConfigError stops start-up, saying what to fix
        if not configs:
            model = settings.embedded_model_path or find_model_file()
            embedded = EmbeddedServer(
                model,
                settings.data_dir / "embedded-server.log",
                context=settings.embedded_context,
                parallel=settings.embedded_parallel,
                threads=settings.embedded_threads,
                server=settings.embedded_server,
            )
            await embedded.start(settings.embedded_startup_timeout)
            configs = [Endpoint(EMBEDDED_NAME, embedded.base_url, parallel=embedded.parallel)]
        for config in configs:
            log.info("endpoint %s at %s", config.name, config.base_url)
        # What models refuse is learnt once and shared, like the runs, by every replica.
        upstreams = Upstreams.from_configs(
            configs, settings, CapabilityTable(store.engine), metrics=Metrics()
        )
        # Shared through the database, so any replica can stream or stop what another started.
        templates = templates or build_templates()
        live = LiveComparisons(LiveStore(store.transient), templates)
        limiter = ComparisonLimiter(
            settings.rate_limit_per_minute, settings.max_inflight_comparisons, buckets
        )
        free = embedded.base_url if embedded else None
        sweeps = SweepStore(store)
        evals = EvalStore(store)

        def comparisons(kind: Kind[C]) -> Comparisons[C]:
            return Comparisons(kind, upstreams, limiter, live, settings, free)

        runs = comparisons(SavedRuns(store))
        # Evals run on the server, whoever watches; each of their cases is priced as a run is.
        eval_runner = EvalRunner(evals, upstreams, limiter, settings, runs.prices_for)
        services = Services(
            settings=settings,
            access=access,
            store=store,
            sweeps=sweeps,
            upstreams=upstreams,
            limiter=limiter,
            live=live,
            embedded=embedded,
            templates=templates,
            comparisons=runs,
            sweep_runs=comparisons(sweep_running.SavedSweeps(sweeps)),
            evals=evals,
            eval_runner=eval_runner,
            reviews=Reviews(ReviewStore(store), store, sweeps, evals),
        )
        watcher = asyncio.create_task(watch_listening(access))
        try:
            yield services
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            # Evals still running here are marked interrupted: Resume, anywhere, finishes them.
            await eval_runner.aclose()
            await upstreams.aclose()
    finally:
        if embedded:
            await embedded.stop()
        store.close()


async def client_gone(request: Request, error: Exception) -> Response:
    """Nobody is listening; 499 (client closed request) for the access log."""
    return Response(status_code=499)


async def explain_invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": explain(error.errors())}, status_code=422)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    templates = build_templates()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Services]]:
        """Build the services; each request carries them in its state (services_of)."""
        async with started(settings, templates) as services:
            with start_up_frozen():
                yield {"services": services}

    app = FastAPI(
        title="Knobs",
        summary="Compare LLM generation settings side by side.",
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's own doc pages load Swagger UI from a CDN; app/web/docs.py serves it locally.
        docs_url=None,
        redoc_url=None,
    )
    logs.configure(settings)
    redact_access_log()
    app.add_exception_handler(RequestValidationError, explain_invalid)
    app.add_exception_handler(StarletteHTTPException, show_not_found)
    app.add_exception_handler(TooManyComparisons, explain_too_many)
    app.add_exception_handler(ClientGone, client_gone)
    app.add_exception_handler(StoreUnavailable, store_unavailable)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.include_router(signin.router)
    app.include_router(pages.router)
    app.include_router(stream.router)
    app.include_router(runs.router)
    app.include_router(diff_views.router)
    app.include_router(api.router)
    app.include_router(sweep_pages.router)
    app.include_router(sweep_running.router)
    app.include_router(sweep_api.router)
    app.include_router(eval_pages.router)
    app.include_router(eval_api.router)
    app.include_router(review_pages.router)
    app.include_router(review_api.router)
    app.include_router(docs.router)
    app.include_router(metrics.router)
    # Pure ASGI middleware (not BaseHTTPMiddleware, which hides disconnects from streams).
    # The last added runs first: every answer, the guards' refusals and 500s too, gets the headers.
    # Pages, fragments, JSON and static files compressed (htmx alone is 52 KB, 17 gzipped);
    # never the event stream: Starlette leaves text/event-stream alone, so it is not buffered.
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # Credentials before anything else of Knobs answers; cross-site posts refused before that,
    # and before that a Host this Knobs does not answer to (so Origin is compared with a good one).
    app.add_middleware(AccessGuard)
    app.add_middleware(CrossOriginProtection)
    app.add_middleware(HostCheck, names=settings.host_names)
    app.add_middleware(ServerErrors)
    app.add_middleware(SecurityHeaders)
    # First of all: who the client is, by Knobs' rule rather than the server's.
    app.add_middleware(ClientAddresses, trusted_proxies=settings.access_rules.trusted_proxies)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: 200 once Knobs can serve, the lifespan has brought the endpoint up."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: 200 while runs can be saved, 503 while the database is out of reach."""
        headers = {"Cache-Control": "no-store"}
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                # asyncio's thread, unlike anyio's, can be left behind when the wait times out.
                await asyncio.to_thread(services_of(request).store.ping)
        except StoreUnavailable as error:
            log.warning("not ready: %s", error)
        except TimeoutError:
            log.warning("not ready: the database did not answer within %g s", READY_TIMEOUT)
        else:
            return JSONResponse({"status": "ready"}, headers=headers)
        detail = "The database cannot be reached or written; the log says why."
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return JSONResponse({"status": "unavailable", "detail": detail}, 503, headers=headers)

    return app
