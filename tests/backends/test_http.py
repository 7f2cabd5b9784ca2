"""HttpBackend against a real local HTTP server (tests/backends/operator_api.py) configured by
docs/examples/operator-api.yaml: field mapping, retries, timeouts, errors, config problems."""

from __future__ import annotations

import inspect
import logging
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from kefu.backends.base import BackendError, OperatorBackend
from kefu.backends.http import HttpBackend
from kefu.backends.http_config import OPERATIONS, OperatorApiConfig, load_config, parse_config
from kefu.knowledge.pack import PackError
from tests.backends.operator_api import TOKEN, OperatorApi

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "operator-api.yaml"
ENV = {"OPERATOR_API_TOKEN": TOKEN}


@pytest.fixture
def api() -> Iterator[OperatorApi]:
    with OperatorApi() as server:
        yield server


def example(api: OperatorApi, **changes: Any) -> OperatorApiConfig:
    """The example config pointed at the test server; fast backoff unless a test says not."""
    config = load_config(EXAMPLE, ENV)
    return config.model_copy(update={"base_url": api.url, "backoff_s": 0.01, **changes})


@pytest.fixture
def backend(api: OperatorApi) -> Iterator[HttpBackend]:
    with HttpBackend(example(api), env=ENV) as b:
        yield b


def fails(kind: str, call: Any, *args: Any) -> BackendError:
    with pytest.raises(BackendError) as caught:
        call(*args)
    assert caught.value.kind == kind, str(caught.value)
    assert caught.value.operation == call.__name__
    return caught.value


# -- the seam --------------------------------------------------------------------------------
def test_operations_table_matches_the_protocol() -> None:
    methods = {
        name: tuple(inspect.signature(member).parameters)[1:]
        for name, member in vars(OperatorBackend).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }
    assert {name: op.args for name, op in OPERATIONS.items()} == methods


def test_example_config_implements_every_operation(backend: HttpBackend) -> None:
    assert isinstance(backend, OperatorBackend)
    assert backend.name == "http"
    assert backend.check() == dict.fromkeys(OPERATIONS, True)


# -- every operation, end to end -----------------------------------------------------------
def test_customer_operations_map_the_operators_fields(
    backend: HttpBackend, api: OperatorApi
) -> None:
    profile = backend.customer_profile("C1001")
    assert (profile.customer, profile.name, profile.phone) == ("C1001", "李雷", "+8613800138000")
    assert (profile.language, profile.tier) == ("zh", "vip")  # zh-CN, GOLD
    assert (profile.deposit_cents, profile.balance_cents) == (9900, 1250)  # "99.00", 12.5 yuan
    assert backend.verify_identity("C1001", "+8613800138000", "9002") is True
    assert backend.verify_identity("C1001", "+8613800138000", "1234") is False
    assert api.seen[-1].body == {"mobile": "+8613800138000", "orderTail": "1234"}
    assert backend.send_code("C1001") == "138****8000"
    assert backend.check_code("C1001", "246810") is True
    assert backend.check_code("C1001", "000000") is False


def test_rides_map_nested_fields_money_units_and_times(
    backend: HttpBackend, api: OperatorApi
) -> None:
    rides = backend.rides("C1001", limit=2)
    assert api.seen[-1].path == "/riders/C1001/trips"
    assert api.seen[-1].query == {"pageSize": "2", "order": "desc"}
    assert [r.ride_id for r in rides] == ["T9002", "T9001"]
    riding, done = rides
    assert (riding.bike_code, riding.bike_type, riding.status) == ("E12345", "ebike", "riding")
    assert riding.started_at == datetime(2024, 5, 2, 1, 15, tzinfo=UTC)  # +08:00 -> UTC
    assert riding.ended_at is None and riding.end_place is None
    assert (riding.fare_cents, done.fare_cents) == (150, 450)  # 1.5 and "4.50" yuan
    assert (done.distance_km, done.climb_m, done.status) == (4.2, 35.5, "completed")
    assert done.ended_at == datetime(2024, 5, 1, 8, 25, 30, tzinfo=UTC)
    assert backend.rides("C1001")[2].refunded_cents == 200


def test_bike_operations(backend: HttpBackend, api: OperatorApi) -> None:
    broken = backend.bike_status("E12345")
    assert (broken.type, broken.state, broken.battery_pct) == ("ebike", "fault", 76)
    assert (broken.place, broken.last_fault, broken.repaired_at) == ("朝阳门站", "brake", None)
    fine = backend.bike_status("B123456")
    assert (fine.type, fine.state, fine.battery_pct) == ("standard", "available", None)
    assert fine.repaired_at == datetime(2024, 4, 30, 10, 0, tzinfo=UTC)  # naive Asia/Shanghai
    stations = backend.nearby_stations("朝阳门", limit=2)
    assert api.seen[-1].query == {"near": "朝阳门", "max": "2"}
    assert [(s.name, s.distance_m, s.standard, s.ebike) for s in stations] == [
        ("朝阳门站", 120, 5, 2),
        ("东四十条站", 640, 1, 0),
    ]
    assert [s.best_battery_pct for s in stations] == [92, None]
    unlock = backend.unlock_help("C1001", "E12345")
    assert (unlock.unlocked, unlock.reason) == (False, "bike_fault")
    assert unlock.bike is not None and unlock.bike.state == "fault"  # nested mapping
    assert backend.unlock_help("C1001", "B123456").unlocked is True


def test_tickets_and_refunds(backend: HttpBackend, api: OperatorApi) -> None:
    ticket = backend.report_fault("C1001", "E12345", "brake").model_dump()
    assert ticket == {"ticket_id": "TK-0001", "kind": "fault", "status": "open", "eta_hours": 4}
    assert api.seen[-1].body == {"reporterId": "C1001", "faultType": "brake", "where": None}
    backend.report_fault("C1001", "E12345", "brake", place="国贸站")
    assert api.seen[-1].body["where"] == "国贸站"
    lost = backend.create_ticket("C1001", "lost_item", "phone left in the basket")
    assert api.seen[-1].body["category"] == "LOST_ITEM"  # args.kind.map
    assert (lost.kind, lost.eta_hours) == ("lost_item", None)
    refund = backend.request_refund("C1001", "T9001", "overcharged").model_dump()
    assert refund == {"approved": True, "amount_cents": 450, "reason": "within_window",
                      "ticket_id": None, "days_to_account": 3}  # fmt: skip
    deposit = backend.refund_deposit("C1001")
    assert (deposit.amount_cents, deposit.reason) == (9900, "deposit_refunded")


def test_lodging_operations(backend: HttpBackend, api: OperatorApi) -> None:
    (stay,) = backend.bookings("C1001")
    assert stay == backend.booking("R501")
    assert (stay.listing_id, stay.listing_name, stay.guests) == ("L77", "国贸 Loft", 2)
    assert (stay.status, stay.total_cents) == ("confirmed", 68800)
    assert stay.check_in == datetime(2024, 6, 1, 7, 0, tzinfo=UTC)  # 15:00 in Shanghai
    guide = backend.checkin_guide("R501", "en")
    assert api.seen[-1].query == {"lang": "en-US"}
    assert guide.steps == ["Take the key from the lockbox", "Lift to floor 12"]  # each: text
    assert (guide.check_in_from, guide.wifi) == ("15:00", "Loft88 / 88888888")
    assert backend.door_code("R501") == "4821"  # sent as a number
    route = backend.route_to_listing("L77", None, "zh")
    assert api.seen[-1].query == {"lang": "zh-CN"}  # no origin: no `from`
    assert route.directions[0] == "Line 1 to Guomao" and route.map_url
    backend.route_to_listing("L77", "北京站", "en")
    assert api.seen[-1].query == {"from": "北京站", "lang": "en-US"}
    change = backend.change_booking("R501", "early_checkin", "12:00").model_dump()
    assert api.seen[-1].body == {"type": "EARLY_CHECK_IN", "time": "12:00"}
    assert change == {"approved": True, "reason": "fee", "fee_cents": 5000, "new_time": "12:00"}
    assert backend.change_booking("R501", "late_checkout", "14:00").fee_cents == 0
    cancel = backend.cancel_booking("R501")
    assert (cancel.cancelled, cancel.refund_cents, cancel.reason) == (True, 68800, "full_refund")
    again = backend.cancel_booking("R501")
    assert (again.cancelled, again.refund_cents, again.reason) == (False, 0, "already_cancelled")


def test_auth_header_comes_from_the_environment(
    api: OperatorApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEFU_TEST_OPERATOR_TOKEN", TOKEN)
    path = tmp_path / "api.yaml"
    path.write_text(
        f"base_url: {api.url}\n"
        "auth: {header: Authorization, value_env: KEFU_TEST_OPERATOR_TOKEN, prefix: 'Bearer '}\n"
        "operations:\n  door_code: {path: '/reservations/{booking_id}/door-code',"
        " result: data.pin}\n"
    )
    with HttpBackend.from_file(path) as backend:
        assert backend.door_code("R501") == "4821"
        assert api.seen[-1].headers["authorization"] == f"Bearer {TOKEN}"
        assert backend.check()["door_code"] and not backend.check()["rides"]
        error = fails("unavailable", backend.rides, "C1001")
        assert error.message == "operation rides is not configured"
    monkeypatch.delenv("KEFU_TEST_OPERATOR_TOKEN")
    with pytest.raises(PackError) as caught:
        HttpBackend.from_file(path)
    assert caught.value.problems == [
        f"{path}:2: auth.value_env: environment variable KEFU_TEST_OPERATOR_TOKEN is not set "
        "or empty (it holds the operator API secret)"
    ]


# -- retries ----------------------------------------------------------------------------------
def test_two_503s_then_success_takes_three_attempts(backend: HttpBackend, api: OperatorApi) -> None:
    api.fault(status=503, times=2)
    assert backend.bike_status("E12345").code == "E12345"
    assert api.attempts("/bikes/E12345") == 3


def test_503_after_every_retry_is_unavailable_with_the_status(
    backend: HttpBackend, api: OperatorApi
) -> None:
    api.fault(status=503, times=None)
    error = fails("unavailable", backend.bike_status, "E12345")
    assert "HTTP 503" in error.message and "after 3 attempts" in error.message
    assert api.attempts() == 3  # retries: 2


def test_non_idempotent_post_is_not_retried(backend: HttpBackend, api: OperatorApi) -> None:
    api.fault(status=503, times=1)
    fails("unavailable", backend.create_ticket, "C1001", "complaint", "rude staff")
    assert api.attempts("/tickets") == 1
    api.fault(drop=True, times=1)
    fails("unavailable", backend.send_code, "C1001")
    assert api.attempts("/otp") == 1


def test_idempotent_post_keeps_one_idempotency_key_across_attempts(
    backend: HttpBackend, api: OperatorApi
) -> None:
    api.fault(status=503, times=2)
    assert backend.request_refund("C1001", "T9001", "overcharged").approved
    keys = [s.headers.get("idempotency-key") for s in api.seen]
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1
    backend.report_fault("C1001", "E12345", "brake")
    assert api.seen[-1].headers["idempotency-key"] != keys[0]  # a new call, a new key
    backend.bike_status("E12345")
    assert "idempotency-key" not in api.seen[-1].headers


def test_connection_refused_is_unavailable(api: OperatorApi) -> None:
    with OperatorApi() as closed:
        url = closed.url
    with HttpBackend(example(api, base_url=url), env=ENV) as backend:
        error = fails("unavailable", backend.bike_status, "E12345")
    assert "cannot connect" in error.message


# -- timeouts ---------------------------------------------------------------------------------
def test_slow_operator_times_out_within_the_configured_bound(api: OperatorApi) -> None:
    api.fault(delay_s=5.0, times=None)
    with HttpBackend(example(api, timeout_s=0.2, retries=0), env=ENV) as backend:
        started = time.monotonic()
        error = fails("timeout", backend.bike_status, "E12345")
        elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 1.0  # the server would take 5 s
    assert "did not answer GET /bikes/{code} in time" in error.message


def test_deadline_bounds_all_attempts_together(api: OperatorApi) -> None:
    api.fault(delay_s=5.0, times=None)
    config = example(api, timeout_s=0.3, retries=5, deadline_s=0.5)
    with HttpBackend(config, env=ENV) as backend:
        started = time.monotonic()
        fails("timeout", backend.bike_status, "E12345")
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert api.attempts() == 2  # 0.3 s, then the 0.2 s left


def test_slow_answers_inside_the_timeout_succeed(backend: HttpBackend, api: OperatorApi) -> None:
    api.fault(delay_s=0.1)
    assert backend.door_code("R501") == "4821"


# -- the operator's errors ------------------------------------------------------------------
def test_500_is_unavailable_and_not_retried(backend: HttpBackend, api: OperatorApi) -> None:
    api.fault(status=500, times=None)
    error = fails("unavailable", backend.rides, "C1001")
    assert "HTTP 500 from GET /riders/{customer}/trips" in error.message
    assert api.attempts() == 1


def test_401_says_the_credentials_were_rejected_without_leaking_them(api: OperatorApi) -> None:
    env = {"OPERATOR_API_TOKEN": "wrong-secret-123"}
    with HttpBackend(example(api), env=env) as backend:
        error = fails("unavailable", backend.customer_profile, "C1001")
    assert "rejected kefu's credentials (HTTP 401" in error.message
    assert "wrong-secret-123" not in str(error) and TOKEN not in str(error)
    assert api.attempts() == 1


def test_404_is_not_found_with_the_operators_reason(backend: HttpBackend) -> None:
    error = fails("not_found", backend.bike_status, "B000000")
    assert error.message == "bike B000000 does not exist (HTTP 404 from GET /bikes/{code})"


def test_409_is_refused_with_the_operators_reason(backend: HttpBackend, api: OperatorApi) -> None:
    error = fails("refused", backend.request_refund, "C1001", "T9000", "twice")
    assert "trip T9000 was already refunded" in error.message and "HTTP 409" in error.message
    assert api.attempts() == 1
    api.fault(status=422, message="rides older than 7 days can't be refunded")
    error = fails("refused", backend.request_refund, "C1001", "T9001", "late")
    assert error.message.endswith("rides older than 7 days can't be refunded")


def test_invalid_json_is_bad_response(backend: HttpBackend, api: OperatorApi) -> None:
    api.fault(invalid_json=True)
    error = fails("bad_response", backend.booking, "R501")
    assert "is not JSON (text/html" in error.message


def test_dropped_connection_is_unavailable_after_retries(
    backend: HttpBackend, api: OperatorApi
) -> None:
    api.fault(drop=True, times=None)
    error = fails("unavailable", backend.bookings, "C1001")
    assert "connection dropped" in error.message
    assert api.attempts() == 3
    api.clear_faults()
    api.fault(drop=True, times=1)  # a single drop is absorbed by a retry
    assert backend.bookings("C1001")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"bike": {**{"bikeNo": "E1", "kind": "UFO", "status": "AVAILABLE"}}},
         "Bike.type (from 'kind'): Input should be 'standard', 'ebike', 'cargo' or 'scooter'"),
        ({"bike": {"kind": "EBIKE", "status": "AVAILABLE"}},
         "Bike.code (from 'bikeNo'): Field required"),
        ({"bike": {"bikeNo": "E1", "kind": "EBIKE", "status": "AVAILABLE", "battery": "full"}},
         "battery_pct (from 'battery'): expected a number, got str"),
        ({"bike": ["E1"]}, "expected an object for Bike, got list"),
        ({"data": {}}, "nothing at 'bike' in the answer"),
    ],
)  # fmt: skip
def test_answers_that_dont_fit_are_bad_response_naming_the_field(
    backend: HttpBackend, api: OperatorApi, body: Any, message: str
) -> None:
    api.fault(body=body)
    assert message in fails("bad_response", backend.bike_status, "E1").message


def test_list_and_scalar_shape_mismatches(backend: HttpBackend, api: OperatorApi) -> None:
    api.fault(body={"data": {"items": {"tripId": "T1"}}})
    assert fails("bad_response", backend.rides, "C1001").message == "data.items is not a list"
    api.fault(body={"data": {"items": [{"tripId": "T1"}]}})
    assert "Ride[0].bike_code (from 'bike.code'): Field required" in (
        fails("bad_response", backend.rides, "C1001").message
    )
    api.fault(body={"data": {"matched": "perhaps"}})
    error = fails("bad_response", backend.verify_identity, "C1001", "+86138", "9002")
    assert error.message == "result (from 'data.matched'): expected true or false, got str"
    api.fault(body={"data": {}})
    assert "expected text, got nothing" in fails("bad_response", backend.door_code, "R1").message


def test_no_httpx_exception_escapes_a_closed_backend(api: OperatorApi) -> None:
    backend = HttpBackend(example(api), env=ENV)
    backend.close()
    assert fails("unavailable", backend.booking, "R501").message == "the backend is closed"


# -- logging, speed, threads ---------------------------------------------------------------
def test_calls_are_logged_at_debug_without_personal_data(
    backend: HttpBackend, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="kefu.backends.http"):
        backend.customer_profile("C1001")
    (record,) = [r for r in caplog.records if r.name == "kefu.backends.http"]
    text = record.getMessage()
    assert text.startswith("customer_profile GET /customers/{customer} -> 200 in ")
    assert "C1001" not in text and "李雷" not in text


def test_overhead_over_a_raw_http_call_is_well_under_5_ms(
    backend: HttpBackend, api: OperatorApi
) -> None:
    raw = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"})

    def median_ms(call: Any) -> float:
        for _ in range(10):
            call()
        times = []
        for _ in range(100):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    mapped = median_ms(lambda: backend.rides("C1001"))
    plain = median_ms(lambda: raw.get(f"{api.url}/riders/C1001/trips").json())
    raw.close()
    assert mapped - plain < 5.0, (mapped, plain)


def test_one_backend_serves_many_threads(backend: HttpBackend) -> None:
    results: list[str] = []

    def work() -> None:
        for _ in range(10):
            results.append(backend.bike_status("E12345").code)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["E12345"] * 80


# -- config errors, with file and line ----------------------------------------------------
GOOD = """\
base_url: https://api.example.com/v2
operations:
  bike_status:
    path: /bikes/{code}
    item: bike
    fields:
      code: bikeNo
      type: kind
      state: {path: status, scale: 1}
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(PackError) as caught:
        parse_config(text, "api.yaml", env or {})
    return caught.value.problems


def test_a_good_config_loads() -> None:
    config = parse_config(GOOD, "api.yaml", {})
    assert config.base_url == "https://api.example.com/v2"
    assert config.configured()["bike_status"] and not config.configured()["rides"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("item: bike", "item: bike\n    retry: 3"),
         "api.yaml:6: operations.bike_status.retry: Extra inputs are not permitted"),
        (GOOD.replace("base_url: https://api.example.com/v2\n", "timeout_s: 2\n"),
         "api.yaml:1: base_url: Field required"),
        (GOOD.replace("scale: 1", 'scale: "100"'),
         "api.yaml:9: operations.bike_status.fields.state.scale: Input should be a valid number"),
        (GOOD.replace("  bike_status:", "  bike_stat:"),
         "api.yaml:3: operations.bike_stat: unknown operation 'bike_stat'; did you mean "
         "'bike_status'?"),
        (GOOD.replace("{code}", "{bike}"),
         "api.yaml:4: operations.bike_status.path: {bike} is not an argument of bike_status "
         "(code)"),
        (GOOD.replace("      type: kind\n", ""),
         "api.yaml:6: operations.bike_status.fields: Bike needs 'type', which is not mapped"),
        (GOOD.replace("type: kind", "type: kind\n      colour: paint"),
         "api.yaml:9: operations.bike_status.fields.colour: Bike has no field 'colour'"),
        (GOOD.replace("https://api.example.com/v2", "ftp://api.example.com"),
         "api.yaml:1: base_url: base_url must be an http:// or https:// URL with a host"),
        (GOOD.replace("item: bike", "items: bike"),
         "api.yaml:5: operations.bike_status.items: bike_status returns one object: use 'item'"),
        (GOOD.replace("path: /bikes/{code}", "path: /bikes/{code}\n    method: GET\n    body: {}"),
         "api.yaml:6: operations.bike_status.body: a GET request takes no body"),
        (GOOD.replace("{path: status, scale: 1}", "{path: status, const: fault}"),
         "api.yaml:9: operations.bike_status.fields.state: give exactly one of 'path' and "
         "'const'"),
        ("operations: [\n",
         "api.yaml:2: invalid YAML: expected the node content, but found '<stream end>'"),
    ],
)  # fmt: skip
def test_config_problems_name_file_and_line(text: str, expected: str) -> None:
    assert expected in problems(text)


def test_example_config_needs_its_token_at_load() -> None:
    (problem,) = problems(EXAMPLE.read_text(encoding="utf-8"), env={})
    assert problem.startswith("api.yaml:15: auth.value_env: environment variable ")
