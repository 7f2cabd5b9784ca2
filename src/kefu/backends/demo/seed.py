"""Fill the demo operator's tables with a deterministic Beijing: the fixed story customers
(`fixtures`) plus a random city drawn from `random.Random(seed)`.

Same seed, same `now` and same sizes give the same rows. Re-seeding replaces every demo row
in one transaction. Generated times are relative to `now` (default: the current time), so
"yesterday's ride" stays yesterday's whichever day the demo runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert
from sqlalchemy.orm import Session, sessionmaker

from kefu.backends.demo import city, fixtures
from kefu.backends.demo.models import ALL_TABLES
from kefu.backends.demo.policy import SPEED_KMH, fare_cents, local_day, local_time
from kefu.db.base import utcnow

Progress = Callable[[str, float], None]
Row = dict[str, Any]

# fmt: off
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
         "涛", "明", "超", "秀英", "霞", "平", "刚", "婷", "浩", "宇", "欣怡", "子轩", "雨萱",
         "梓涵", "一诺", "浩然", "思远", "晓东", "建国", "佳琪")
FIRST_EN = ("Emily", "James", "Olivia", "Daniel", "Sophie", "Michael", "Grace", "David",
            "Hannah", "Lucas", "Chloe", "Ethan", "Mia", "Ryan", "Zoe", "Kevin", "Amy", "Jason")
LAST_EN = ("Smith", "Chen", "Wang", "Li", "Brown", "Johnson", "Miller", "Davis", "Garcia",
           "Wilson", "Taylor", "Lee", "Martin", "Kim", "Nguyen", "Müller", "Rossi", "Zhang")
PHONE_PREFIXES = (*range(130, 140), *range(150, 154), *range(155, 160), 166, 177,
                  *range(180, 190), 198, 199)
FAULTS = ("刹车失灵", "链条脱落", "车座松动", "二维码损坏", "车铃损坏", "轮胎漏气",
          "锁扣无法关闭", "车灯不亮")
EBIKE_FAULTS = ("电池无法充电", "电机异响", "仪表盘不亮")
# fmt: on
# Rides by local hour: commuter peaks at 8 and 18.
HOUR_WEIGHTS = (1, 0.5, 0.3, 0.2, 0.3, 1, 3, 8, 10, 6, 4, 4, 5, 4, 4, 5, 6, 9, 10, 7, 5, 4, 3, 2)
HISTORY_DAYS = 60


@dataclass
class _City:
    rng: random.Random
    now: datetime
    customers: list[Row] = field(default_factory=list)
    bikes: list[Row] = field(default_factory=list)
    rides: list[Row] = field(default_factory=list)
    bookings: list[Row] = field(default_factory=list)
    tickets: list[Row] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # every id and phone handed out
    seq: dict[str, int] = field(default_factory=dict)  # per id prefix (date), the next number

    def unique(self, make: Callable[[], str]) -> str:
        while (value := make()) in self.used:
            pass
        self.used.add(value)
        return value

    def next_id(self, prefix: str, width: int, start: int) -> str:
        number = self.seq.get(prefix, start)
        self.seq[prefix] = number + 1
        return f"{prefix}{number:0{width}d}"


def seed(
    engine_or_sessions: Engine | sessionmaker[Session],
    *,
    seed: int = 7,
    customers: int = 200,
    bikes: int = 2000,
    rides_per_customer: int = 8,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Replace the demo data: the fixtures plus `customers` customers and `bikes` bikes more,
    with about `rides_per_customer` rides each. Returns how many rows each table got."""
    report = progress or (lambda _stage, _done: None)
    world = _City(random.Random(seed), now or utcnow())
    rows = _generate(world, customers, bikes, rides_per_customer, report)
    if isinstance(engine_or_sessions, Engine):
        with engine_or_sessions.begin() as conn:
            _write(conn, rows, report)
    else:
        with engine_or_sessions.begin() as session:
            _write(session.connection(), rows, report)
    return {table.name.removeprefix("demo_"): len(rows[table.name]) for table in ALL_TABLES}


def _generate(
    world: _City, customers: int, bikes: int, rides_per_customer: int, report: Progress
) -> dict[str, list[Row]]:
    fixed = fixtures.rows(world.now)
    for table_rows in fixed.values():
        for row in table_rows:
            world.used.update(str(v) for k, v in row.items() if k in fixtures.ID_COLUMNS)
    world.customers, world.bikes = list(fixed["customers"]), list(fixed["bikes"])
    world.rides, world.bookings = list(fixed["rides"]), list(fixed["bookings"])
    report("customers", 0.0)
    for i in range(customers):
        world.customers.append(_customer(world, i))
    report("customers", 1.0)
    for i in range(bikes):
        world.bikes.append(_bike(world))
        if i % 200 == 0:
            report("bikes", i / max(bikes, 1))
    report("bikes", 1.0)
    generated = world.customers[len(fixed["customers"]) :]
    for i, customer in enumerate(generated):
        _rides(world, customer, rides_per_customer)
        if world.rng.random() < 0.35:
            for _ in range(world.rng.randint(1, 2)):
                _booking(world, customer, fixed["bookings"])
        if i % 20 == 0:
            report("rides", i / max(len(generated), 1))
    report("rides", 1.0)
    _fault_tickets(world)
    return {
        "demo_places": fixed["places"],
        "demo_customers": world.customers,
        "demo_bikes": world.bikes,
        "demo_rides": world.rides,
        "demo_listings": fixed["listings"],
        "demo_bookings": world.bookings,
        "demo_tickets": world.tickets,
        "demo_codes": [],
    }


def _write(conn: Connection, rows: dict[str, list[Row]], report: Progress) -> None:
    for table in reversed(ALL_TABLES):
        conn.execute(delete(table))
    total = sum(len(r) for r in rows.values()) or 1
    done = 0
    for table in ALL_TABLES:
        batch = rows[table.name]
        for start in range(0, len(batch), 1000):
            chunk = batch[start : start + 1000]
            conn.execute(insert(table), chunk)
            done += len(chunk)
            report("writing", done / total)
    report("writing", 1.0)


def _customer(world: _City, i: int) -> Row:
    rng = world.rng
    english = rng.random() < 0.2
    if english:
        name = f"{rng.choice(FIRST_EN)} {rng.choice(LAST_EN)}"
    else:
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    phone = world.unique(lambda: f"+86{rng.choice(PHONE_PREFIXES)}{rng.randrange(10**8):08d}")
    has_pass = rng.random() < 0.2
    return {
        "id": f"c-{2001 + i}",
        "name": name,
        "phone": phone,
        "language": "en" if english else "zh",
        "tier": rng.choices(("basic", "plus", "vip"), (70, 22, 8))[0],
        "deposit_cents": 19900 if rng.random() < 0.4 else 0,
        # A few owe money after a ride their balance didn't cover.
        "balance_cents": -rng.randint(50, 500) if rng.random() < 0.03 else rng.randint(0, 80) * 50,
        "pass_order_id": world.unique(lambda: f"DD{rng.randrange(10**12):012d}")
        if has_pass
        else None,
        "pass_until": world.now + timedelta(days=rng.randint(1, 30)) if has_pass else None,
    }


def _bike(world: _City) -> Row:
    rng = world.rng
    kind = rng.choices(("standard", "ebike", "cargo", "scooter"), (70, 25, 3, 2))[0]
    powered = kind in ("ebike", "scooter")
    digits = 5 if powered else 6
    code = world.unique(lambda: f"{'E' if powered else 'B'}{rng.randrange(10**digits):0{digits}d}")
    state = rng.choices(("available", "fault", "in_repair", "retired"), (93, 4, 2.5, 0.5))[0]
    fault = None
    if state in ("fault", "in_repair") or rng.random() < 0.05:
        fault = rng.choice(FAULTS + EBIKE_FAULTS if powered else FAULTS)
    repaired = None
    if state == "available" and fault is not None:
        repaired = world.now - timedelta(hours=rng.uniform(1, 24 * 30))
    station = rng.choices(city.STATIONS, [s.weight for s in city.STATIONS])[0]
    return {
        "code": code,
        "type": kind,
        "state": state,
        "battery_pct": int(rng.triangular(5, 100, 80)) if powered else None,
        "station": station.point.name,
        "rider": None,
        "no_signal": rng.random() < 0.05,
        "last_fault": fault,
        "repaired_at": repaired,
    }


def _rides(world: _City, customer: Row, per_customer: int) -> None:
    rng = world.rng
    count = rng.randint(0, 2 * per_customer)
    riding_now = count > 0 and rng.random() < 0.02
    started: list[datetime] = []
    for _ in range(count):
        day = local_day(world.now) - timedelta(days=rng.randint(0, HISTORY_DAYS))
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        at = local_time(day, f"{hour:02d}:{rng.randrange(60):02d}")
        if at > world.now - timedelta(minutes=45):
            at -= timedelta(days=1)
        started.append(at)
    started.sort()
    for n, at in enumerate(started):
        world.rides.append(_ride(world, customer, at, riding=riding_now and n == len(started) - 1))


def _ride(world: _City, customer: Row, at: datetime, *, riding: bool) -> Row:
    rng = world.rng
    start = rng.choices(city.STATIONS, [s.weight for s in city.STATIONS])[0]
    nearby = [s for s in city.STATIONS if 0 < _km(start, s) < 8] or [start]
    # Most trips are short hops: nearer stations are likelier ends.
    closeness = [1 / (_km(start, s) + 0.5) ** 2 for s in nearby]
    end = start if rng.random() < 0.05 else rng.choices(nearby, closeness)[0]
    hilly = start.point.name in city.HILLY or end.point.name in city.HILLY
    weights = (45, 50, 2, 3) if hilly else (66, 28, 3, 3)
    bike = _pick_bike(
        world, rng.choices(("standard", "ebike", "cargo", "scooter"), weights)[0], riding
    )
    kind = bike["type"]
    km = rng.uniform(0.8, 4.0) if end is start else _km(start, end) * rng.uniform(1.2, 1.45)
    climb = km * rng.uniform(1, 6) + max(0, end.elevation_m - start.elevation_m)
    if hilly:
        climb += rng.uniform(40, 120)
    minutes = km / SPEED_KMH[kind] * 60 * rng.uniform(0.85, 1.2) + rng.uniform(1, 6)
    lock_failed = rng.random() < 0.01
    if lock_failed:  # the lock didn't close: a short hop billed for hours
        end, km, climb, minutes = (
            start,
            rng.uniform(0.1, 0.9),
            rng.uniform(0, 5),
            rng.uniform(190, 400),
        )
    has_pass = customer["pass_until"] is not None and kind == "standard"
    fare = fare_cents(kind, minutes, has_pass=has_pass)
    status, refunded = "completed", 0
    roll = rng.random()
    if riding:
        status, fare = "riding", 0
        bike.update(state="in_use", rider=customer["id"], station=None)
    elif roll < 0.03 and fare > 0 and not lock_failed:
        status, refunded = "refunded", fare
    elif roll < 0.04 and not lock_failed:
        status = "disputed"
    return {
        "ride_id": world.next_id(f"R{local_day(at):%Y%m%d}", 4, 100),
        "customer_id": customer["id"],
        "bike_code": bike["code"],
        "bike_type": kind,
        "started_at": at,
        "ended_at": None if riding else at + timedelta(seconds=round(minutes * 60)),
        "start_place": start.point.name,
        "end_place": None if riding else end.point.name,
        "distance_km": 0.0 if riding else round(km, 1),
        "climb_m": 0.0 if riding else float(round(climb)),
        "fare_cents": fare,
        "refunded_cents": refunded,
        "status": status,
    }


def _pick_bike(world: _City, kind: str, riding: bool) -> Row:
    # Historical rides may have used any bike of the type; a ride under way needs a free one.
    for _ in range(50):
        bike = world.rng.choice(world.bikes)
        if bike["type"] == kind and (not riding or _free(bike)):
            return bike
    # A small fleet may lack the type: any bike will do.
    candidates = [b for b in world.bikes if b["type"] == kind] or world.bikes
    return next((b for b in candidates if not riding or _free(b)), candidates[0])


def _free(bike: Row) -> bool:
    # The story bikes keep their fixed states.
    return bool(
        bike["state"] == "available"
        and not bike["no_signal"]
        and bike["rider"] is None
        and bike["code"] not in fixtures.STORY_BIKES
    )


def _booking(world: _City, customer: Row, fixed: list[Row]) -> None:
    rng = world.rng
    listing = rng.choices(city.LISTINGS, [6, 5, 5, 4, 5, 3, 3, 3, 2, 2, 2, 3, 2])[0]
    nights = rng.choices((1, 2, 3, 4, 5, 7), (20, 30, 22, 12, 10, 6))[0]
    day = local_day(world.now) + timedelta(days=rng.randint(-HISTORY_DAYS, HISTORY_DAYS))
    arrive = "14:00" if listing.kind == "inn" else "15:00"
    check_in = local_time(day, arrive)
    check_out = local_time(day + timedelta(days=nights), "12:00")
    # The story bookings keep the night before and after free, so their early check-in and
    # late check-out stories never depend on the seed.
    for other in (*world.bookings, *fixed):
        if other["listing_id"] != listing.listing_id or other["status"] == "cancelled":
            continue
        margin = timedelta(days=1) if other in fixed else timedelta(0)
        if check_in < other["check_out"] + margin and other["check_in"] - margin < check_out:
            return  # taken: this customer books nothing this time
    cancelled = rng.random() < 0.08
    if cancelled:
        status = "cancelled"
    elif check_out <= world.now:
        status = "completed"
    elif check_in <= world.now:
        status = "checked_in"
    else:
        status = "confirmed"
    prefix = f"BK{day:%Y%m%d}"
    world.bookings.append(
        {
            "booking_id": world.next_id(prefix, 3, 100),
            "customer_id": customer["id"],
            "listing_id": listing.listing_id,
            "check_in": check_in,
            "check_out": check_out,
            "guests": rng.randint(1, listing.max_guests),
            "status": status,
            "total_cents": listing.nightly_cents * nights,
            "refunded_cents": 0,
            "door_code": f"{rng.randrange(10**6):06d}"[: rng.randint(4, 6)],
        }
    )


def _fault_tickets(world: _City) -> None:
    for bike in world.bikes:
        if bike["state"] not in ("fault", "in_repair"):
            continue
        number = len(world.tickets) + 1
        world.tickets.append(
            {
                "ticket_id": f"T{10_000_000 + number}",
                "customer_id": None,
                "kind": "fault",
                "summary": f"{bike['code']}: {bike['last_fault']}",
                "status": "open" if bike["state"] == "fault" else "in_progress",
                "eta_hours": 4,
                "bike_code": bike["code"],
                "ride_id": None,
                "created_at": world.now - timedelta(hours=world.rng.uniform(1, 72)),
            }
        )


def _km(a: city.Station, b: city.Station) -> float:
    return city.distance_km(a.point.lat, a.point.lon, b.point.lat, b.point.lon)
