"""A real HTTP server playing an operator's REST API ("QuickRide & Stay" v2) for HttpBackend's
tests: its own naming (camelCase, nested objects, yuan as decimal strings or numbers, fractions
for battery levels, local timestamps without an offset, `{"data": {"items": [...]}}` lists), so
the field mapping in docs/examples/operator-api.yaml is really exercised.

Tests inject faults per request: slowness, N failures before success, any status with a reason,
invalid JSON, a dropped connection, or an arbitrary body.

    with OperatorApi() as api:
        api.fault(status=503, times=2)   # the next two requests fail, the third succeeds
        ...
        assert len(api.seen) == 3
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TOKEN = "test-token-not-a-secret"
Answer = tuple[int, Any]


@dataclass
class Fault:
    status: int | None = None  # answer with this status and `message` as the operator's reason
    message: str = "injected failure"
    delay_s: float = 0.0  # sleep first (then answer normally, unless something else is set)
    invalid_json: bool = False
    drop: bool = False  # close the connection without answering
    body: Any = None  # answer 200 with this JSON instead of the real answer
    times: int | None = 1  # how many requests it hits; None: every request
    match: str = ""  # only requests whose path contains this


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any


@dataclass
class State:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    trips: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    bikes: dict[str, dict[str, Any]] = field(default_factory=dict)
    stations: list[dict[str, Any]] = field(default_factory=list)
    reservations: dict[str, dict[str, Any]] = field(default_factory=dict)
    tickets: int = 0


def _bike(no: str, kind: str, status: str, battery: float | None, where: str) -> dict[str, Any]:
    return {"bikeNo": no, "kind": kind, "status": status, "battery": battery,
            "location": {"name": where, "lat": 39.92, "lng": 116.43},
            "lastFault": None, "repairedAt": None}  # fmt: skip


def _trip(no: str, bike: str, kind: str, start: str, end: str | None, fare: Any, state: str,
          refunded: Any = "0") -> dict[str, Any]:  # fmt: skip
    return {"tripId": no, "bike": {"code": bike, "kind": kind}, "startTime": start,
            "endTime": end, "from": {"name": "朝阳门站"}, "to": {"name": "国贸站"} if end else None,
            "distanceMeters": 4200, "ascentMeters": 35.5,
            "fare": {"amount": fare, "currency": "CNY"}, "refunded": {"amount": refunded},
            "state": state}  # fmt: skip


def seed() -> State:
    state = State()
    state.customers["C1001"] = {
        "customerId": "C1001", "displayName": "李雷", "mobile": "+8613800138000",
        "locale": "zh-CN", "membership": {"level": "GOLD"},
        "wallet": {"deposit": "99.00", "balance": 12.5}, "orderTails": ["9002", "9001"],
    }  # fmt: skip
    state.trips["C1001"] = [
        _trip("T9002", "E12345", "EBIKE", "2024-05-02T09:15:00+08:00", None, 1.5, "IN_PROGRESS"),
        _trip("T9001", "B123456", "CLASSIC", "2024-05-01T08:00:00Z", "2024-05-01T08:25:30Z",
              "4.50", "FINISHED"),
        _trip("T9000", "B123456", "CLASSIC", "2024-04-30T18:00:00Z", "2024-04-30T18:10:00Z",
              "2.00", "REFUNDED", refunded="2.00"),
    ]  # fmt: skip
    state.bikes["E12345"] = _bike("E12345", "EBIKE", "BROKEN", 0.76, "朝阳门站")
    state.bikes["E12345"]["lastFault"] = {"description": "brake"}
    state.bikes["B123456"] = _bike("B123456", "CLASSIC", "AVAILABLE", None, "国贸站")
    state.bikes["B123456"]["repairedAt"] = "2024-04-30 18:00:00"  # local time, no offset
    state.stations = [
        {"stationName": "朝阳门站", "distance": {"meters": 120},
         "inventory": {"classic": 5, "electric": 2, "cargo": 0}, "topBattery": 0.92},
        {"stationName": "东四十条站", "distance": {"meters": 640},
         "inventory": {"classic": 1, "electric": 0, "cargo": 1}, "topBattery": None},
        {"stationName": "工人体育场站", "distance": {"meters": 1100},
         "inventory": {"classic": 8, "electric": 4, "cargo": 0}, "topBattery": 0.55},
    ]  # fmt: skip
    state.reservations["R501"] = {
        "reservationId": "R501", "guest": "C1001",
        "listing": {"id": "L77", "title": "国贸 Loft", "address": "北京市朝阳区建国路 88 号"},
        "checkIn": "2024-06-01T15:00:00", "checkOut": "2024-06-03T12:00:00",
        "guestCount": 2, "state": "CONFIRMED", "price": {"total": "688.00"},
    }  # fmt: skip
    return state


class OperatorApi:
    """The server: `url` is its base URL; `seen` every request, in order."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.state = seed()
        self.seen: list[Seen] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v2"
        # A short poll interval: shutdown() waits up to one interval, once per test.
        serve = lambda: self._server.serve_forever(poll_interval=0.01)  # noqa: E731
        self._thread = threading.Thread(target=serve, daemon=True)

    def __enter__(self) -> OperatorApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # wakes slow answers, so shutdown doesn't wait for them
        self._server.shutdown()
        self._server.server_close()

    def fault(self, **kwargs: Any) -> Fault:
        with self._lock:
            self._faults.append(Fault(**kwargs))
            return self._faults[-1]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def attempts(self, match: str = "") -> int:
        return sum(match in s.path for s in self.seen)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.match in path and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def answer(self, seen: Seen) -> Answer:
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            return 401, _error("UNAUTHORIZED", "invalid or missing token")
        for method, pattern, route in ROUTES:
            found = re.fullmatch(pattern, seen.path)
            if found and method == seen.method:
                with self._lock:
                    return route(self.state, seen, *found.groups())
        return 404, _error("NO_ROUTE", f"no route for {seen.method} {seen.path}")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # slow answers must not hold up the test run

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left: expected here, not worth a traceback


def _handler_for(api: OperatorApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real APIs do
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            seen = Seen(
                method=self.command,
                path=parts.path.removeprefix("/v2"),
                query=dict(parse_qsl(parts.query)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw) if raw else None,
            )
            with api._lock:
                api.seen.append(seen)
            fault = api._take_fault(seen.path)
            if fault is not None and fault.delay_s:
                api._stopping.wait(fault.delay_s)
            if fault is not None and fault.drop:
                self.close_connection = True
                return
            if fault is not None and fault.invalid_json:
                self._send(200, b"<html>Service temporarily moved</html>", "text/html")
                return
            if fault is not None and fault.status is not None:
                status, data = fault.status, _error("INJECTED", fault.message)
            elif fault is not None and fault.body is not None:
                status, data = 200, fault.body
            else:
                status, data = api.answer(seen)
            self._send(status, json.dumps(data, ensure_ascii=False).encode(), "application/json")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _not_found(what: str) -> Answer:
    return 404, _error("NOT_FOUND", f"{what} does not exist")


# -- routes: (state, request, *path groups) -> (status, JSON) ------------------------------
def _customer(state: State, seen: Seen, cid: str) -> Answer:
    if cid not in state.customers:
        return _not_found("customer")
    data = {k: v for k, v in state.customers[cid].items() if k != "orderTails"}
    return 200, {"data": data}


def _identity(state: State, seen: Seen, cid: str) -> Answer:
    who = state.customers.get(cid)
    if who is None:
        return _not_found("customer")
    body = seen.body or {}
    matched = body.get("mobile") == who["mobile"] and body.get("orderTail") in who["orderTails"]
    return 200, {"data": {"matched": matched}}


def _otp(state: State, seen: Seen, cid: str) -> Answer:
    if cid not in state.customers:
        return _not_found("customer")
    return 200, {"data": {"maskedMobile": "138****8000"}}


def _otp_verify(state: State, seen: Seen, cid: str) -> Answer:
    return 200, {"data": {"valid": (seen.body or {}).get("otp") == "246810"}}


def _trips(state: State, seen: Seen, cid: str) -> Answer:
    if cid not in state.customers:
        return _not_found("rider")
    items = state.trips.get(cid, [])[: int(seen.query.get("pageSize", 20))]
    return 200, {"data": {"items": copy.deepcopy(items), "total": len(state.trips.get(cid, []))}}


def _bike_status(state: State, seen: Seen, code: str) -> Answer:
    bike = state.bikes.get(code)
    return (200, {"bike": bike}) if bike else _not_found(f"bike {code}")


def _stations(state: State, seen: Seen) -> Answer:
    if not seen.query.get("near"):
        return 400, _error("BAD_REQUEST", "near is required")
    return 200, {"data": {"items": state.stations[: int(seen.query.get("max", 10))]}}


def _new_ticket(state: State, category: str, eta: int | None) -> dict[str, Any]:
    state.tickets += 1
    return {"no": f"TK-{state.tickets:04d}", "category": category, "state": "OPEN", "eta": eta}


def _faults(state: State, seen: Seen, code: str) -> Answer:
    if code not in state.bikes:
        return _not_found(f"bike {code}")
    return 201, {"ticket": _new_ticket(state, "FAULT", 4)}


def _trip_refund(state: State, seen: Seen, trip_id: str) -> Answer:
    trips = [t for ts in state.trips.values() for t in ts if t["tripId"] == trip_id]
    if not trips:
        return _not_found(f"trip {trip_id}")
    trip = trips[0]
    if trip["state"] == "REFUNDED":
        return 409, _error("ALREADY_REFUNDED", f"trip {trip_id} was already refunded")
    trip["state"], trip["refunded"] = "REFUNDED", {"amount": trip["fare"]["amount"]}
    answer = {"approved": True, "amount": trip["fare"]["amount"], "policy": "WITHIN_WINDOW",
              "reviewTicket": None, "arrivalDays": 3}  # fmt: skip
    return 200, {"data": answer}


def _deposit_refund(state: State, seen: Seen, cid: str) -> Answer:
    if cid not in state.customers:
        return _not_found("customer")
    answer = {"approved": True, "amount": 99, "policy": "DEPOSIT_RETURNED", "arrivalDays": 7}
    return 200, {"data": answer}


def _unlock(state: State, seen: Seen, code: str) -> Answer:
    bike = state.bikes.get(code)
    if bike is None:
        return _not_found(f"bike {code}")
    if bike["status"] == "BROKEN":
        return 200, {"data": {"success": False, "failReason": "BIKE_FAULT", "bike": bike}}
    return 200, {"data": {"success": True, "failReason": None, "bike": None}}


def _tickets(state: State, seen: Seen) -> Answer:
    category = (seen.body or {}).get("category")
    if category not in ("LOST_ITEM", "COMPLAINT", "CLEANING", "REPAIR", "CALLBACK"):
        return 422, _error("BAD_CATEGORY", f"unknown category {category!r}")
    return 201, {"ticket": _new_ticket(state, category, None)}


def _reservations(state: State, seen: Seen, cid: str) -> Answer:
    items = [r for r in state.reservations.values() if r["guest"] == cid]
    return 200, {"data": {"items": items}}


def _reservation(state: State, seen: Seen, rid: str) -> Answer:
    found = state.reservations.get(rid)
    return (200, {"data": found}) if found else _not_found(f"reservation {rid}")


def _guide(state: State, seen: Seen, rid: str) -> Answer:
    if rid not in state.reservations:
        return _not_found(f"reservation {rid}")
    zh = seen.query.get("lang") == "zh-CN"
    steps = ["在楼下密码箱取钥匙", "乘电梯到 12 层"] if zh else ["Take the key from the lockbox",
                                                      "Lift to floor 12"]  # fmt: skip
    return 200, {"data": {"reservationId": rid, "checkInFrom": "15:00", "checkOutBy": "12:00",
                          "steps": [{"order": i + 1, "text": s} for i, s in enumerate(steps)],
                          "wifiText": "Loft88 / 88888888"}}  # fmt: skip


def _door_code(state: State, seen: Seen, rid: str) -> Answer:
    if rid not in state.reservations:
        return _not_found(f"reservation {rid}")
    return 200, {"data": {"pin": 4821}}  # a number, as some operators send it


def _route(state: State, seen: Seen, lid: str) -> Answer:
    if lid != "L77":
        return _not_found(f"listing {lid}")
    origin = seen.query.get("from")
    steps = [f"From {origin}, take Line 1 to Guomao"] if origin else ["Line 1 to Guomao"]
    return 200, {"data": {"listingId": lid, "address": "北京市朝阳区建国路 88 号",
                          "directions": [*steps, "Exit B, 200 m east"],
                          "mapUrl": "https://maps.example.com/?q=L77"}}  # fmt: skip


def _change(state: State, seen: Seen, rid: str) -> Answer:
    if rid not in state.reservations:
        return _not_found(f"reservation {rid}")
    body = seen.body or {}
    if body.get("type") not in ("EARLY_CHECK_IN", "LATE_CHECK_OUT"):
        return 422, _error("BAD_TYPE", f"unknown change type {body.get('type')!r}")
    fee = "0" if body["type"] == "LATE_CHECK_OUT" else "50.00"
    policy = "FREE" if fee == "0" else "FEE"
    answer = {"accepted": True, "policy": policy, "fee": fee, "newTime": body.get("time")}
    return 200, {"data": answer}


def _cancel(state: State, seen: Seen, rid: str) -> Answer:
    found = state.reservations.get(rid)
    if found is None:
        return _not_found(f"reservation {rid}")
    if found["state"] == "CANCELLED":
        return 200, {"data": {"cancelled": False, "refund": None, "policy": "ALREADY_CANCELLED"}}
    found["state"] = "CANCELLED"
    return 200, {"data": {"cancelled": True, "refund": found["price"]["total"],
                          "policy": "FULL_REFUND"}}  # fmt: skip


ID = r"([^/]+)"
ROUTES: list[tuple[str, str, Callable[..., Answer]]] = [
    ("GET", rf"/customers/{ID}", _customer),
    ("POST", rf"/customers/{ID}/identity-checks", _identity),
    ("POST", rf"/customers/{ID}/otp", _otp),
    ("POST", rf"/customers/{ID}/otp/verify", _otp_verify),
    ("POST", rf"/customers/{ID}/deposit/refunds", _deposit_refund),
    ("GET", rf"/riders/{ID}/trips", _trips),
    ("GET", rf"/bikes/{ID}", _bike_status),
    ("POST", rf"/bikes/{ID}/faults", _faults),
    ("POST", rf"/bikes/{ID}/unlock", _unlock),
    ("GET", r"/stations/nearby", _stations),
    ("POST", rf"/trips/{ID}/refunds", _trip_refund),
    ("POST", r"/tickets", _tickets),
    ("GET", rf"/guests/{ID}/reservations", _reservations),
    ("GET", rf"/reservations/{ID}", _reservation),
    ("GET", rf"/reservations/{ID}/guide", _guide),
    ("GET", rf"/reservations/{ID}/door-code", _door_code),
    ("POST", rf"/reservations/{ID}/changes", _change),
    ("POST", rf"/reservations/{ID}/cancellation", _cancel),
    ("GET", rf"/listings/{ID}/route", _route),
]
