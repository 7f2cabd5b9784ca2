"""Lodging actions."""

from __future__ import annotations

from typing import Any

from kefu.dialogue.actions import ActionContext, action


@action("lodging.booking")
def booking(ctx: ActionContext, bookings: list[dict[str, Any]], booking_id: str) -> Any:
    """The chosen booking from the list already fetched (no second backend call); a booking id
    typed that isn't in the list is looked up, so an old or shared booking still works."""
    for item in bookings or []:
        if item.get("booking_id") == booking_id:
            return item
    return ctx.need_backend("booking").booking(booking_id)
