"""Bike actions: recommend the bike type that suits a rider, from their own ride history.

The rule is deliberately explainable (every recommendation carries its reasons, which the
response turns into words): long trips or hills favour an e-bike, short flat trips a standard
bike, carrying things or a child a cargo bike; weather the rider mentions adjusts it.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from kefu.backends.base import BackendError
from kefu.dialogue.actions import ActionContext, action

LONG_KM = 3.0  # average trip length above which pedalling gets tiring
HILLY_M = 25.0  # average climb per trip
_CARRY = re.compile(
    r"孩子|小孩|儿童|宝宝|行李|买菜|搬|载物|东西多|kid|child|children|groceries|luggage|carry|cargo|shopping"
)
_RAIN = re.compile(r"下雨|雨天|有雨|rain|raining|wet")
_HOT = re.compile(r"热|高温|hot|heat")
_PEAK_HOURS = {7, 8, 9, 17, 18, 19}
_LOCAL = ZoneInfo("Asia/Shanghai")


@action("bike.recommend")
def recommend(ctx: ActionContext) -> dict[str, Any]:
    text = ctx.text.lower()
    rides = []
    if ctx.state.customer and ctx.backend is not None:
        try:
            rides = ctx.backend.rides(ctx.state.customer, limit=20)
        except BackendError:
            rides = []  # recommend from what the rider said rather than fail
    done = [r for r in rides if r.distance_km > 0]
    avg_km = round(sum(r.distance_km for r in done) / len(done), 1) if done else 0.0
    avg_climb = sum(r.climb_m for r in done) / len(done) if done else 0.0
    peak = sum(1 for r in done if r.started_at.astimezone(_LOCAL).hour in _PEAK_HOURS)
    reasons: list[str] = []
    if _CARRY.search(text):
        kind = "cargo"
        reasons.append("carrying")
    elif not done:
        kind = "standard"
        reasons.append("no_history")
    else:
        ebike = 0
        if avg_km > LONG_KM:
            ebike += 2
            reasons.append("long_trips")
        if avg_climb > HILLY_M:
            ebike += 2
            reasons.append("hills")
        if done and peak / len(done) >= 0.5:
            ebike += 1
            reasons.append("commute")
        kind = "ebike" if ebike >= 2 else "standard"
        if kind == "standard":
            reasons = ["short_flat"]
    if _RAIN.search(text) and kind == "ebike":
        kind, reasons = "standard", [*reasons, "rain"]
    elif _HOT.search(text) and kind == "standard" and "carrying" not in reasons:
        kind, reasons = "ebike", [*reasons, "hot"]
    return {"type": kind, "reasons": reasons, "avg_km": avg_km, "rides": len(done)}
