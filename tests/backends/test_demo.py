"""DemoBackend over the seeded demo city, on SQLite and PostgreSQL: every method, each policy
branch, not_found for unknown and malformed ids, and a deterministic, idempotent seed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, func, insert, inspect, select, update
from sqlalchemy.orm import sessionmaker

from kefu.backends.base import BackendError, OperatorBackend
from kefu.backends.demo.backend import DemoBackend
from kefu.backends.demo.models import ALL_TABLES, BIKES, BOOKINGS, CODES, CUSTOMERS, RIDES
from kefu.backends.demo.policy import LOCAL, fare_cents
from kefu.backends.demo.seed import seed
from kefu.db import migrate
from kefu.db.engine import make_engine
from tests.conftest import POSTGRES_URL

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
SMALL = {"customers": 25, "bikes": 150}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One migrated database per module and kind; each test re-seeds it (which is idempotent)."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'kefu.db'}"
    else:
        server: str = request.getfixturevalue("postgres_server")
        schema = f"kefu_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    eng = make_engine(url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()
    if schema is not None:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backend(engine: Engine, clock: Clock) -> DemoBackend:
    seed(engine, now=NOW, **SMALL)
    return DemoBackend(engine, fixed_code="123456", clock=clock)


def fails(kind: str, call: Callable[..., Any], *args: Any) -> BackendError:
    with pytest.raises(BackendError) as caught:
        call(*args)
    assert caught.value.kind == kind, str(caught.value)
    assert caught.value.operation == call.__name__
    return caught.value


def change(engine: Engine, statement: Any) -> None:
    with engine.begin() as conn:
        conn.execute(statement)


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in ALL_TABLES
        }


def local(day: int, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    midnight = NOW.astimezone(LOCAL).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight + timedelta(days=day, hours=hours, minutes=minutes)).astimezone(UTC)


def test_it_is_an_operator_backend(backend: DemoBackend) -> None:
    assert isinstance(backend, OperatorBackend)
    assert backend.name == "demo"


# -- customers and identity ----------------------------------------------------------------
def test_customer_profile(backend: DemoBackend) -> None:
    me = backend.customer_profile("c-1001")
    assert (me.name, me.phone, me.language, me.tier) == ("王小明", "+8613812345678", "zh", "plus")
    assert (me.deposit_cents, me.balance_cents) == (19900, 2350)
    emily = backend.customer_profile("c-1002")
    assert (emily.name, emily.language, emily.tier, emily.deposit_cents) == (
        "Emily Chen", "en", "vip", 0,
    )  # fmt: skip
    fails("not_found", backend.customer_profile, "c-0000")


def test_verify_identity_needs_the_phone_and_an_order_ending(backend: DemoBackend) -> None:
    verify = backend.verify_identity
    assert verify("c-1001", "13812345678", "0001")  # a ride id, phone without +86
    assert verify("c-1001", "+86 138-1234-5678", "0007")
    assert verify("c-1001", "008613812345678", "4001")  # the booking BK20261124001
    assert verify("c-1003", "13700002222", "0003")  # the monthly pass DD202611010003
    assert not verify("c-1001", "13812345679", "0001")  # someone else's phone
    assert not verify("c-1001", "13812345678", "9999")
    assert not verify("c-1001", "13812345678", "01")
    assert not verify("c-1001", "not a phone", "0001")
    assert not verify("c-1002", "13812345678", "0001")  # c-1001's phone and ride
    fails("not_found", verify, "c-0000", "13812345678", "0001")


def test_codes_are_single_use_and_expire(backend: DemoBackend, clock: Clock) -> None:
    assert backend.send_code("c-1001") == "+86 138****5678"
    assert not backend.check_code("c-1001", "654321")
    assert backend.check_code("c-1001", " 123456 ")
    assert not backend.check_code("c-1001", "123456")  # once only
    backend.send_code("c-1001")
    clock.now = NOW + timedelta(minutes=11)
    assert not backend.check_code("c-1001", "123456")
    fails("not_found", backend.send_code, "c-0000")
    fails("not_found", backend.check_code, "c-0000", "123456")


def test_five_wrong_codes_void_it(backend: DemoBackend) -> None:
    backend.send_code("c-1002")
    for _ in range(5):
        assert not backend.check_code("c-1002", "000000")
    assert not backend.check_code("c-1002", "123456")


def test_codes_are_random_without_a_fixed_one(engine: Engine, backend: DemoBackend) -> None:
    DemoBackend(engine).send_code("c-1001")
    with engine.connect() as conn:
        code = conn.execute(select(CODES.c.code)).scalar_one()
    assert re.fullmatch(r"\d{6}", code)


# -- bikes and rides -----------------------------------------------------------------------
def test_rides_newest_first(backend: DemoBackend) -> None:
    rides = backend.rides("c-1001")
    assert [r.ride_id for r in rides] == ["R202611230002", "R202611230001", "R202611200007"]
    ebike, lock, refunded = rides
    assert (ebike.bike_code, ebike.bike_type, ebike.distance_km, ebike.climb_m) == (
        "E20931", "ebike", 5.4, 60.0,
    )  # fmt: skip
    assert (ebike.start_place, ebike.end_place, ebike.fare_cents) == ("朝阳门站", "三里屯", 450)
    assert ebike.started_at.astimezone(LOCAL).hour == 19  # yesterday evening
    assert lock.ended_at is not None and lock.ended_at - lock.started_at == timedelta(hours=4)
    assert (refunded.status, refunded.refunded_cents) == ("refunded", 150)
    assert [r.ride_id for r in backend.rides("c-1001", limit=1)] == ["R202611230002"]
    riding = backend.rides("c-1003")[0]
    assert (riding.status, riding.ended_at, riding.bike_code) == ("riding", None, "E30001")
    fails("not_found", backend.rides, "c-0000")


def test_bike_status(backend: DemoBackend) -> None:
    assert backend.bike_status(" b123456 ").place == "国贸站"
    ebike = backend.bike_status("E20931")
    assert (ebike.type, ebike.state, ebike.battery_pct, ebike.place) == (
        "ebike", "available", 82, "三里屯",
    )  # fmt: skip
    broken = backend.bike_status("B654321")
    assert (broken.state, broken.last_fault, broken.place) == ("fault", "刹车失灵", "朝阳门站")
    repaired = backend.bike_status("B128000")
    assert (repaired.state, repaired.last_fault) == ("available", "锁扣无法关闭")
    assert repaired.repaired_at is not None and repaired.repaired_at <= NOW
    assert backend.bike_status("E30001").state == "in_use"
    fails("not_found", backend.bike_status, "B000000")
    fails("not_found", backend.bike_status, "not a code")


def test_nearby_stations(engine: Engine, backend: DemoBackend) -> None:
    stations = backend.nearby_stations("国贸站")
    assert stations[0].name == "国贸站" and len(stations) == 3
    assert stations[0].distance_m == 0
    assert [s.distance_m for s in stations] == sorted(s.distance_m for s in stations)
    with engine.connect() as conn:
        standard = conn.execute(
            select(func.count()).where(
                BIKES.c.station == "国贸站",
                BIKES.c.type == "standard",
                BIKES.c.state == "available",
                BIKES.c.no_signal.is_(False),
            )
        ).scalar_one()
    assert stations[0].standard == standard >= 1  # B123456 and B128000 at least
    sanlitun = backend.nearby_stations("三里屯", limit=1)[0]
    assert sanlitun.ebike >= 1 and (sanlitun.best_battery_pct or 0) >= 82
    assert len(backend.nearby_stations("后海胡同四合院", limit=5)) == 5  # a listing, not a station
    fails("not_found", backend.nearby_stations, "Atlantis")


def test_report_fault_takes_the_bike_out_of_service(backend: DemoBackend) -> None:
    ticket = backend.report_fault("c-1001", "E20931", "车把歪了", "三里屯")
    assert re.fullmatch(r"T\d{8}", ticket.ticket_id)
    assert (ticket.kind, ticket.status, ticket.eta_hours) == ("fault", "open", 4)
    bike = backend.bike_status("E20931")
    assert (bike.state, bike.last_fault) == ("fault", "车把歪了")
    assert backend.report_fault("c-1002", "B123456", "刹车失灵").eta_hours == 2  # vip
    fails("not_found", backend.report_fault, "c-1001", "B000000", "x")
    # A visitor with no account may still report a broken bike: no account on the ticket.
    assert backend.report_fault("anonymous", "B123456", "x").eta_hours == 4


def test_refund_of_a_ride_whose_lock_failed(backend: DemoBackend) -> None:
    decision = backend.request_refund("c-1001", "R202611230001", "锁关不上")
    assert decision.approved and decision.reason == "overcharged"
    assert (decision.amount_cents, decision.days_to_account) == (1200 - 150, 3)
    ride = backend.rides("c-1001")[1]
    assert (ride.status, ride.refunded_cents) == ("refunded", 1050)
    again = backend.request_refund("c-1001", "r202611230001", "again")
    assert (again.approved, again.reason) == (False, "already_refunded")


def test_refund_policy_branches(engine: Engine, backend: DemoBackend, clock: Clock) -> None:
    def refund(customer: str, ride: str) -> tuple[bool, str]:
        decision = backend.request_refund(customer, ride, "why")
        return decision.approved, decision.reason

    assert refund("c-1001", "R202611200007") == (False, "already_refunded")
    assert refund("c-1003", "R202611240009") == (False, "ride_in_progress")
    review = backend.request_refund("c-1001", "R202611230002", "太贵了")
    assert (review.approved, review.reason) == (False, "needs_review")
    assert review.ticket_id is not None and re.fullmatch(r"T\d{8}", review.ticket_id)
    # A vip's overcharge comes back in a day: 1200 for a 3.2 km standard ride (expected 150).
    change(engine, update(RIDES).where(RIDES.c.ride_id == "R202611220003").values(fare_cents=1200))
    vip = backend.request_refund("c-1002", "R202611220003", "x")
    assert (vip.approved, vip.amount_cents, vip.days_to_account) == (True, 1050, 1)
    clock.now = NOW + timedelta(days=31)
    assert refund("c-1001", "R202611230001") == (False, "too_old")
    fails("not_found", backend.request_refund, "c-1002", "R202611230001", "not theirs")
    fails("not_found", backend.request_refund, "c-1001", "R999", "malformed")


def test_refund_deposit(engine: Engine, backend: DemoBackend) -> None:
    decision = backend.refund_deposit("c-1001")
    assert (decision.approved, decision.amount_cents, decision.reason) == (
        True, 19900, "deposit_refunded",
    )  # fmt: skip
    assert decision.days_to_account == 3
    assert backend.customer_profile("c-1001").deposit_cents == 0
    assert backend.refund_deposit("c-1001").reason == "no_deposit"
    assert backend.refund_deposit("c-1002").reason == "no_deposit"
    assert backend.refund_deposit("c-1003").reason == "ride_in_progress"
    change(engine, update(CUSTOMERS).where(CUSTOMERS.c.id == "c-1002").values(deposit_cents=9900))
    assert backend.refund_deposit("c-1002").days_to_account == 1  # vip
    fails("not_found", backend.refund_deposit, "c-0000")


def test_unlock_help(engine: Engine, backend: DemoBackend) -> None:
    def unlock(customer: str, code: str) -> tuple[bool, str | None]:
        result = backend.unlock_help(customer, code)
        return result.unlocked, result.reason

    assert unlock("c-1001", "B654321") == (False, "bike_fault")
    assert unlock("c-1001", "E30001") == (False, "in_use")
    assert unlock("c-1003", "E30001") == (True, None)  # their own ride
    assert unlock("c-1001", "B777777") == (False, "no_signal")
    result = backend.unlock_help("c-1001", "B123456")
    assert result.unlocked and result.bike is not None and result.bike.state == "in_use"
    assert unlock("c-1002", "B123456") == (False, "in_use")
    change(engine, update(CUSTOMERS).where(CUSTOMERS.c.id == "c-1002").values(balance_cents=-80))
    assert unlock("c-1002", "B200001") == (False, "low_balance")
    fails("not_found", backend.unlock_help, "c-1001", "X1")
    fails("not_found", backend.unlock_help, "c-0000", "B123456")


def test_create_ticket(backend: DemoBackend) -> None:
    first = backend.create_ticket("c-1001", "lost_item", "落了一把伞在 B123456 的车筐里")
    second = backend.create_ticket("c-1002", "complaint", "rude staff")
    assert (first.kind, first.eta_hours, second.eta_hours) == ("lost_item", 24, 12)
    assert int(second.ticket_id[1:]) == int(first.ticket_id[1:]) + 1
    assert backend.create_ticket("anonymous", "callback", "x").eta_hours == 24


# -- lodging -------------------------------------------------------------------------------
def test_bookings_next_stay_first(engine: Engine, backend: DemoBackend) -> None:
    past = {
        "booking_id": "BK20261001001", "customer_id": "c-1001", "listing_id": "L-10005",
        "check_in": local(-54, "15:00"), "check_out": local(-52, "12:00"), "guests": 1,
        "status": "completed", "total_cents": 119600, "refunded_cents": 0, "door_code": "1111",
    }  # fmt: skip
    change(engine, insert(BOOKINGS).values(past))
    assert [b.booking_id for b in backend.bookings("c-1001")] == ["BK20261124001", "BK20261001001"]
    stay = backend.booking(" bk20261124001 ")
    assert (stay.listing_id, stay.listing_name, stay.guests, stay.status) == (
        "L-10001", "后海胡同四合院", 2, "confirmed",
    )  # fmt: skip
    assert stay.check_in == local(0, "15:00") and stay.check_out == local(2, "12:00")
    assert stay.address == "北京市西城区后海北沿甲23号"
    assert backend.booking("BK20261201002").address.startswith("Unit 1202")  # type: ignore[union-attr]
    fails("not_found", backend.booking, "BK00000000000")
    fails("not_found", backend.bookings, "c-0000")


def test_checkin_guide_and_door_code(backend: DemoBackend) -> None:
    zh = backend.checkin_guide("BK20261124001", "zh")
    en = backend.checkin_guide("BK20261124001", "en-GB")
    assert (zh.check_in_from, zh.check_out_by, zh.wifi) == ("15:00", "12:00", en.wifi)
    assert "后海北沿" in zh.steps[0] and "Houhai" in en.steps[0]
    assert not any("4821" in step for step in zh.steps + en.steps)  # only after verification
    assert backend.door_code("BK20261124001") == "4821"
    assert backend.door_code("BK20261201002") == "739164"
    backend.cancel_booking("BK20261201002")
    fails("refused", backend.door_code, "BK20261201002")
    fails("refused", backend.checkin_guide, "BK20261201002", "en")
    fails("not_found", backend.door_code, "nonsense")
    fails("not_found", backend.checkin_guide, "BK00000000000", "zh")


def test_route_to_listing(backend: DemoBackend) -> None:
    airport = backend.route_to_listing("L-10001", "北京首都国际机场", "zh")
    assert airport.address == "北京市西城区后海北沿甲23号" and len(airport.directions) == 3
    assert "首都国际机场" in airport.directions[0] and "鼓楼大街站" in airport.directions[0]
    assert airport.map_url and "116.3858" in airport.map_url
    english = backend.route_to_listing("l10002", "北京西站", "en")
    assert "Beijing West" in english.directions[0] and english.address.startswith("Unit 1202")
    anywhere = backend.route_to_listing("L-10002", "my hotel", "zh")
    assert len(anywhere.directions) == 1 and "团结湖站" in anywhere.directions[0]
    assert backend.route_to_listing("L-10009", None, "en").directions
    fails("not_found", backend.route_to_listing, "L-99999", None, "zh")


def test_early_checkin(engine: Engine, backend: DemoBackend) -> None:
    def early(booking: str, time: str) -> tuple[bool, str, int]:
        decision = backend.change_booking(booking, "early_checkin", time)
        return decision.approved, decision.reason, decision.fee_cents

    assert early("BK20261124001", "10:00") == (False, "too_early", 0)
    assert early("BK20261201002", "12:00") == (True, "free", 0)  # vip
    assert early("BK20261124001", "15:30") == (True, "free", 0)  # not early at all
    assert early("BK20261124001", "13:00") == (True, "fee", 5000)  # plus
    assert backend.booking("BK20261124001").check_in == local(0, "13:00")
    fails("refused", backend.change_booking, "BK20261124001", "early_checkin", "noon-ish")
    fails("not_found", backend.change_booking, "BK0", "early_checkin", "13:00")


def test_early_checkin_after_another_guest_is_fully_booked(
    engine: Engine, backend: DemoBackend
) -> None:
    night_before = {
        "booking_id": "BK20261122001", "customer_id": "c-1002", "listing_id": "L-10001",
        "check_in": local(-2, "15:00"), "check_out": local(0, "12:00"), "guests": 1,
        "status": "checked_in", "total_cents": 137600, "refunded_cents": 0, "door_code": "2222",
    }  # fmt: skip
    change(engine, insert(BOOKINGS).values(night_before))
    decision = backend.change_booking("BK20261124001", "early_checkin", "13:00")
    assert (decision.approved, decision.reason) == (False, "fully_booked")
    late = backend.change_booking("BK20261122001", "late_checkout", "13:00")
    assert (late.approved, late.reason) == (False, "fully_booked")  # c-1001 arrives that day


def test_late_checkout(engine: Engine, backend: DemoBackend) -> None:
    def late(time: str) -> tuple[bool, str, int, str | None]:
        decision = backend.change_booking("BK20261124001", "late_checkout", time)
        return decision.approved, decision.reason, decision.fee_cents, decision.new_time

    assert late("15:00") == (False, "too_late", 0, None)
    assert late("12:00") == (True, "free", 0, "12:00")
    assert late("13：30") == (True, "fee", 5000, "13:30")
    assert backend.booking("BK20261124001").check_out == local(2, "13:30")
    change(engine, update(BOOKINGS).values(status="cancelled"))
    assert late("13:00")[:2] == (False, "not_changeable")


def test_cancel_booking(engine: Engine, backend: DemoBackend, clock: Clock) -> None:
    far = backend.cancel_booking("BK20261201002")  # in 7 days
    assert (far.cancelled, far.refund_cents, far.reason) == (True, 158400, "full_refund")
    assert backend.booking("BK20261201002").status == "cancelled"
    assert backend.cancel_booking("BK20261201002").reason == "already_cancelled"
    soon = backend.cancel_booking("BK20261124001")  # today
    assert (soon.cancelled, soon.refund_cents, soon.reason) == (True, 0, "no_refund")
    seed(engine, now=NOW, **SMALL)
    clock.now = local(7, "15:00") - timedelta(hours=36)
    half = backend.cancel_booking("BK20261201002")
    assert (half.refund_cents, half.reason) == (158400 // 2, "partial_refund")
    change(engine, update(BOOKINGS).values(status="checked_in"))
    assert backend.cancel_booking("BK20261124001").reason == "not_cancellable"
    fails("not_found", backend.cancel_booking, "BK00000000000")


# -- the seed ------------------------------------------------------------------------------
def test_seed_is_deterministic_and_idempotent(engine: Engine, backend: DemoBackend) -> None:
    first = dump(engine)
    backend.request_refund("c-1001", "R202611230001", "x")
    backend.report_fault("c-1001", "B123456", "x")
    backend.send_code("c-1001")
    counts = seed(engine, now=NOW, **SMALL)
    assert dump(engine) == first  # same seed, same city; and the changes are gone
    assert counts == {name.removeprefix("demo_"): len(rows) for name, rows in first.items()}
    seed(engine, seed=8, now=NOW, **SMALL)
    other = dump(engine)
    assert other != first
    assert other["demo_listings"] == first["demo_listings"]  # the fixed parts stay
    story = [r for r in other["demo_rides"] if r[0] in ("R202611230001", "R202611230002")]
    assert story == [r for r in first["demo_rides"] if r[0] in ("R202611230001", "R202611230002")]


def test_seed_through_a_session_factory(engine: Engine) -> None:
    counts = seed(sessionmaker(engine), customers=3, bikes=10, rides_per_customer=2)
    assert (counts["customers"], counts["bikes"], counts["listings"]) == (6, 17, 13)


def test_seeded_city_looks_like_beijing(engine: Engine, backend: DemoBackend) -> None:
    seed(engine, now=NOW)  # full size
    city = dump(engine)
    bikes = city["demo_bikes"]
    kinds = [b[1] for b in bikes]
    assert len(bikes) == 2007 and 0.2 < kinds.count("ebike") / len(bikes) < 0.3
    assert 0.01 < kinds.count("cargo") / len(bikes) < 0.05 and "scooter" in kinds
    for code, kind, _state, battery, *_ in bikes:
        pattern = r"E\d{5}" if kind in ("ebike", "scooter") else r"B\d{6}"
        assert re.fullmatch(pattern, code), code
        assert (battery is None) == (kind in ("standard", "cargo")) or code == "E30001"
    assert 0.03 < sum(1 for b in bikes if b[6]) / len(bikes) < 0.08  # no signal
    assert {b[2] for b in bikes} >= {"available", "fault", "in_repair", "in_use"}
    rides = city["demo_rides"]
    assert len(rides) > 200 * 5
    ids = {r[0] for r in rides}
    assert all(re.fullmatch(r"R20\d{6}\d{4}", i) for i in ids)
    pass_holders = {c[0] for c in city["demo_customers"] if c[7]}
    for ride in rides:
        if ride[12] == "completed" and ride[1] not in pass_holders and ride[0] > "R2026112400":
            minutes = (ride[5] - ride[4]).total_seconds() / 60
            assert ride[10] == fare_cents(ride[3], minutes), ride
    customers = city["demo_customers"]
    assert all(re.fullmatch(r"\+861\d{10}", c[2]) for c in customers)
    assert len({c[2] for c in customers}) == len(customers)
    assert {c[4] for c in customers} == {"basic", "plus", "vip"}
    assert all(
        re.fullmatch(r"BK20\d{9}", b[0]) and 4 <= len(b[9]) <= 6 for b in city["demo_bookings"]
    )
    assert [x[0] for x in city["demo_listings"]] == [f"L-{10001 + i}" for i in range(13)]


def test_seed_times_follow_now(engine: Engine) -> None:
    seed(engine, **SMALL)  # now = the current time
    backend = DemoBackend(engine)
    evening = backend.rides("c-1001")[0]
    assert timedelta(0) < datetime.now(UTC) - evening.started_at < timedelta(days=2)


def test_migration_0006_creates_and_drops_the_demo_tables(db_url: str) -> None:
    from alembic import command

    eng = make_engine(db_url)
    try:
        migrate.upgrade(eng, "0006")
        seed(eng, customers=2, bikes=5)
        demo = {t.name for t in ALL_TABLES}
        assert demo <= set(inspect(eng).get_table_names())
        for table in demo:  # not tenant data: an outside operator's system
            assert "tenant_id" not in {c["name"] for c in inspect(eng).get_columns(table)}
        command.downgrade(migrate.alembic_config(eng), "0005")
        assert not demo & set(inspect(eng).get_table_names())
        migrate.upgrade(eng)
        assert demo <= set(inspect(eng).get_table_names())
    finally:
        eng.dispose()
