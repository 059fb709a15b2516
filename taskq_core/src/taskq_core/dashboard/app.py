"""The dashboard's Starlette application: pages read the broker directly, nothing else.

Every page is built from the broker contract (``queues``, ``queue_stats``, ``list_alive_workers``,
``message_info``, ``get_result``, ``list_dead``), so it works on every backend and needs no
worker events; the Workflows page (``workflows.py``) also needs the optional
:class:`~taskq_core.capabilities.ChordIndex` and says so when the broker lacks it. The overview's
live part is an HTML fragment htmx fetches every ``REFRESH_SECONDS``: one ``queues`` call plus
one ``queue_stats`` call (one round trip on Redis) per queue.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from taskq_core.capabilities import Inspection, ResultStore, WorkerRegistry
from taskq_core.dashboard import charts
from taskq_core.dashboard.security import (
    CSRF_FIELD,
    AuthMiddleware,
    Credentials,
    csrf_ok,
    csrf_token,
    remember_csrf,
)
from taskq_core.dashboard.workflows import WorkflowPages
from taskq_core.errors import ConfigurationError
from taskq_core.monitoring.prometheus import CONTENT_TYPE, queue_registry, render
from taskq_core.periodic.schedule import fires
from taskq_core.schemas import check_queue_name

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.requests import Request

    from taskq_core.broker import BaseBroker
    from taskq_core.periodic.schedule import Periodic
    from taskq_core.schemas import MessageInfo, QueueStats

#: Seconds between live refreshes of the overview and the workers page.
REFRESH_SECONDS = 2
#: Minutes of history the overview's charts show.
CHART_MINUTES = 60
#: Heartbeats older than this many seconds do not count as alive on the workers page.
ALIVE_WITHIN = 60.0
#: DEAD messages per page of the DEAD browser.
DEAD_PAGE_SIZE = 50


def create_app(
    broker: BaseBroker,
    *,
    credentials: Credentials | None = None,
    periodic: Sequence[Periodic] | None = None,
) -> Starlette:
    """The dashboard for ``broker``; every request needs ``credentials`` when any are set.

    ``periodic`` are the app's schedules (``app.periodic_schedules``): they live in the app's
    code, not in the broker, so the periodic page lists them only when the dashboard was given
    the app (``taskq dashboard -A MODULE:APP``); their last fires come from the broker.
    """
    package = resources.files("taskq_core.dashboard")
    templates = Jinja2Templates(directory=str(package.joinpath("templates")))
    templates.env.filters["utc"] = _utc
    templates.env.globals["csrf_field"] = CSRF_FIELD
    templates.env.globals["refresh_seconds"] = REFRESH_SECONDS
    pages = _Pages(broker, templates, periodic)
    workflows = WorkflowPages(broker, pages.render)
    routes = [
        Route("/", pages.overview),
        Route("/fragments/queues", pages.queues_fragment),
        Route("/workers", pages.workers),
        Route("/fragments/workers", pages.workers_fragment),
        Route("/tasks", pages.task),
        Route("/queues/{queue}/dead", pages.dead),
        Route("/queues/{queue}/dead/requeue", pages.requeue, methods=["POST"]),
        Route("/queues/{queue}/dead/purge", pages.purge, methods=["POST"]),
        Route("/metrics", pages.metrics),
        Route("/periodic", pages.periodic),
        Route("/workflows", workflows.workflows),
        Route("/fragments/workflows", workflows.workflows_fragment),
        Route("/queues/{queue}/chords/{chord_id}", workflows.chord),
        Mount("/static", StaticFiles(directory=str(package.joinpath("static"))), name="static"),
    ]
    middleware = [Middleware(AuthMiddleware, credentials=credentials or Credentials())]
    return Starlette(routes=routes, middleware=middleware)


class _Pages:
    """The route handlers, sharing one broker and one template environment."""

    def __init__(
        self,
        broker: BaseBroker,
        templates: Jinja2Templates,
        periodic: Sequence[Periodic] | None,
    ) -> None:
        self.broker = broker
        self.inspection = Inspection.require(broker, "the dashboard")
        self.templates = templates
        self.schedules = periodic

    def render(self, request: Request, name: str, **context: Any) -> Response:
        """A template as the response, with the session's CSRF token (set as a cookie if new)."""
        context["csrf_token"] = csrf_token(request)
        context["root"] = request.scope.get("root_path", "")
        response = self.templates.TemplateResponse(request, name, context)
        remember_csrf(request, response)
        return response

    # -- overview --------------------------------------------------------------------------------

    def _queue_rows(self) -> list[dict[str, Any]]:
        rows = []
        for name in self.broker.queues():
            stats: QueueStats = self.inspection.queue_stats(name, minutes=CHART_MINUTES)
            throughput = charts.throughput(stats.history)
            failures = charts.failure_rate(stats.history)
            rows.append(
                {
                    "counts": stats.counts,
                    "paused": stats.paused,
                    "throughput": charts.svg(throughput, stats.history),
                    "failures": charts.svg(failures, stats.history),
                    "last_hour": sum(m.succeeded + m.failed for m in stats.history),
                    "failed_hour": sum(m.failed for m in stats.history),
                    "retried_hour": sum(m.retried for m in stats.history),
                }
            )
        return rows

    def overview(self, request: Request) -> Response:
        """Counts per queue and the last hour's charts, refreshed live."""
        return self.render(request, "overview.html", rows=self._queue_rows())

    def queues_fragment(self, request: Request) -> Response:
        """The overview's live part (what htmx swaps in every refresh)."""
        return self.render(request, "_queues.html", rows=self._queue_rows())

    # -- Prometheus --------------------------------------------------------------------------------

    def metrics(self, request: Request) -> Response:
        """Queue gauges in Prometheus' text format, read from the broker at each scrape.

        Behind the same authentication as the pages. Without taskq-core[prometheus]: 501 with
        the line that says what to install.
        """
        try:
            registry = queue_registry(self.broker)
        except ConfigurationError as exc:
            return PlainTextResponse(str(exc), status_code=501)
        return Response(render(registry), media_type=CONTENT_TYPE)

    # -- workers ---------------------------------------------------------------------------------

    def _workers(self) -> dict[str, Any]:
        broker = self.broker
        alive = (
            broker.list_alive_workers(within=ALIVE_WITHIN)
            if isinstance(broker, WorkerRegistry)
            else []
        )
        return {"workers": alive, "now": self.broker.now(), "within": ALIVE_WITHIN}

    def workers(self, request: Request) -> Response:
        """Alive workers from their heartbeats."""
        return self.render(request, "workers.html", **self._workers())

    def workers_fragment(self, request: Request) -> Response:
        """The workers table alone, for the live refresh."""
        return self.render(request, "_workers.html", **self._workers())

    # -- periodic schedules ----------------------------------------------------------------------

    def periodic(self, request: Request) -> Response:
        """Each schedule with its next fire (from its cadence) and last fire (from the broker)."""
        now = self.broker.now()
        rows = None if self.schedules is None else [fires(p, now) for p in self.schedules]
        return self.render(request, "periodic.html", rows=rows)

    # -- task lookup -----------------------------------------------------------------------------

    def task(self, request: Request) -> Response:
        """One message by id: where it is now, and its stored result if it has one."""
        message_id = request.query_params.get("id", "").strip()
        found: MessageInfo | None = None
        result = None
        if message_id:
            for name in self.broker.queues():
                found = self.inspection.message_info(name, message_id)
                if found is not None:
                    break
            if isinstance(self.broker, ResultStore):
                result = self.broker.get_result(message_id, timeout=0)
        return self.render(request, "task.html", id=message_id, info=found, result=result)

    # -- DEAD ------------------------------------------------------------------------------------

    def dead(self, request: Request) -> Response:
        """One page of a queue's DEAD messages, most recent first."""
        queue = _queue(request)
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        total = self.broker.counts(queue).dead
        pages = max(1, -(-total // DEAD_PAGE_SIZE))
        page = min(page, pages)  # a page past the end shows the last one
        letters = self.broker.list_dead(
            queue, offset=(page - 1) * DEAD_PAGE_SIZE, limit=DEAD_PAGE_SIZE
        )
        return self.render(
            request,
            "dead.html",
            queue=queue,
            letters=letters,
            total=total,
            page=page,
            pages=pages,
            notice=request.query_params.get("notice", ""),
        )

    async def requeue(self, request: Request) -> Response:
        """Requeue one DEAD message (form field ``id``) or all of them; POST with CSRF token."""
        queue = _queue(request)
        if not await csrf_ok(request):
            return _csrf_refused()
        message_id = (await request.form()).get("id")
        ids = [message_id] if isinstance(message_id, str) and message_id else None
        moved = await run_in_threadpool(self.broker.requeue_dead, queue, ids)
        return _back_to_dead(request, queue, f"requeued {moved} message(s)")

    async def purge(self, request: Request) -> Response:
        """Delete every DEAD message of the queue; POST with CSRF token."""
        queue = _queue(request)
        if not await csrf_ok(request):
            return _csrf_refused()
        removed = await run_in_threadpool(self.broker.purge_dead, queue)
        return _back_to_dead(request, queue, f"purged {removed} dead message(s)")


def _queue(request: Request) -> str:
    try:
        return check_queue_name(request.path_params["queue"])
    except ValueError:
        raise HTTPException(404, "no such queue") from None


def _csrf_refused() -> Response:
    return PlainTextResponse("missing or wrong CSRF token; reload the page and try again", 403)


def _back_to_dead(request: Request, queue: str, notice: str) -> Response:
    root = request.scope.get("root_path", "")
    query = urlencode({"notice": notice})
    return RedirectResponse(f"{root}/queues/{quote(queue)}/dead?{query}", 303)


def _utc(timestamp: float | None) -> str:
    """Seconds since the epoch as ``YYYY-MM-DD HH:MM:SS UTC`` (empty for none)."""
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
