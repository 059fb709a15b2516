"""The Workflows page: each queue's open chords, read from the broker's chord index.

A broker that offers :class:`~taskq_core.capabilities.ChordIndex` keeps, per queue, the chords whose
join record is open; a refresh of the page costs one ``queues`` call plus one
``list_open_chords`` call per queue (one round trip on Redis), each bounded to
``CHORDS_PER_QUEUE`` chords, so many open chords do not slow it down. Groups and chains have
no join record in the broker; their messages are found one by one with the task lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException

from taskq_core.capabilities import ChordIndex, ResultStore
from taskq_core.schemas import check_queue_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from taskq_core.broker import BaseBroker
    from taskq_core.capabilities.chord_index import ChordDetail, OpenChords

#: Waiting (and failed) chords listed per queue, newest first.
CHORDS_PER_QUEUE = 50
#: Members per page of a chord's detail view.
MEMBERS_PER_PAGE = 100


class WorkflowPages:
    """The Workflows page, its live fragment, and one chord's detail view."""

    def __init__(self, broker: BaseBroker, render: Callable[..., Response]) -> None:
        self.broker = broker
        self.render = render

    def _index(self) -> ChordIndex | None:
        return self.broker if ChordIndex.offered_by(self.broker) else None  # type: ignore[return-value]

    def _listings(self) -> dict[str, Any]:
        index = self._index()
        if index is None:
            return {"supported": False, "queues": []}
        queues: list[tuple[str, OpenChords]] = []
        for name in self.broker.queues():
            listing = index.list_open_chords(name, limit=CHORDS_PER_QUEUE)
            if listing.waiting or listing.failed:
                queues.append((name, listing))
        return {
            "supported": True,
            "queues": queues,
            "now": self.broker.now(),
            "per_queue": CHORDS_PER_QUEUE,
        }

    def workflows(self, request: Request) -> Response:
        """Open chords per queue, refreshed live."""
        return self.render(request, "workflows.html", **self._listings())

    def workflows_fragment(self, request: Request) -> Response:
        """The open-chords tables alone, for the live refresh."""
        return self.render(request, "_workflows.html", **self._listings())

    def chord(self, request: Request) -> Response:
        """One chord: its members (a page of them) while open, the callback's result after."""
        index = self._index()
        if index is None:
            raise HTTPException(404, "this broker keeps no index of chords")
        try:
            queue = check_queue_name(request.path_params["queue"])
        except ValueError:
            raise HTTPException(404, "no such queue") from None
        chord_id = request.path_params["chord_id"]
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        detail: ChordDetail | None = index.chord_info(
            queue, chord_id, offset=(page - 1) * MEMBERS_PER_PAGE, limit=MEMBERS_PER_PAGE
        )
        pages = 1 if detail is None else max(1, -(-detail.chord.size // MEMBERS_PER_PAGE))
        if detail is not None and page > pages:  # past the end: the last page
            page = pages
            detail = index.chord_info(
                queue, chord_id, offset=(page - 1) * MEMBERS_PER_PAGE, limit=MEMBERS_PER_PAGE
            )
        result = (
            self.broker.get_result(chord_id, timeout=0)
            if isinstance(self.broker, ResultStore)
            else None
        )
        response = self.render(
            request,
            "chord.html",
            queue=queue,
            chord_id=chord_id,
            detail=detail,
            result=result,
            page=page,
            pages=pages,
        )
        if detail is None and result is None:
            response.status_code = 404  # the page says why: never created, or long gone
        return response
