"""The rows every seed creates whatever its random seed: the demo's story customers, their
rides, bikes and bookings (stories and tests rely on these exact values), and the city's
fixed places and listings. Times are relative to `now`; the ids are fixed strings.

- c-1001 王小明 (zh, plus, deposit 199 CNY): R202611230002 e-bike yesterday evening (fine),
  R202611230001 whose lock failed (4 h, 0.3 km, refundable as overcharged), R202611200007
  already refunded; booking BK20261124001 at 后海胡同四合院 (L-10001) today, door code 4821.
- c-1002 Emily Chen (en, vip, no deposit): R202611220003; BK20261201002 at 三里屯Loft
  (L-10002) in 7 days, door code 739164.
- c-1003 李娜 (zh, basic, deposit): riding R202611240009 on E30001 right now.
- Bikes B123456 (available, 国贸站), E20931 (e-bike 82%, 三里屯), B654321 (fault 刹车失灵,
  朝阳门站), B777777 (no signal, 东直门站), B128000 (lock fault repaired this morning).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kefu.backends.demo import city
from kefu.backends.demo.policy import local_day, local_time

Row = dict[str, Any]
# Columns whose values must not be reused by generated rows.
ID_COLUMNS = frozenset(
    {"id", "phone", "code", "ride_id", "booking_id", "pass_order_id", "ticket_id"}
)
STORY_BIKES = frozenset({"B123456", "E20931", "B654321", "B777777", "B128000", "B200001", "E30001"})


def rows(now: datetime) -> dict[str, list[Row]]:
    today = local_day(now)

    def day(offset: int, hhmm: str) -> datetime:
        return local_time(today + timedelta(days=offset), hhmm)

    riding = _ride("R202611240009", "c-1003", "E30001", "ebike", now - timedelta(minutes=12), 0,
                   "望京站", None, 0.0, 0, 0)  # fmt: skip
    riding.update(ended_at=None, status="riding")
    # fmt: off
    return {
        "places": places(),
        "listings": listings(),
        "customers": [
            _customer("c-1001", "王小明", "+8613812345678", "zh", "plus", 19900, 2350),
            _customer("c-1002", "Emily Chen", "+8613900001111", "en", "vip", 0, 5000),
            _customer("c-1003", "李娜", "+8613700002222", "zh", "basic", 19900, 800,
                      pass_order_id="DD202611010003", pass_until=now + timedelta(days=7)),
        ],
        "bikes": [
            _bike("B123456", "standard", "available", "国贸站"),
            _bike("E20931", "ebike", "available", "三里屯", battery=82),
            _bike("B654321", "standard", "fault", "朝阳门站", fault="刹车失灵"),
            _bike("B777777", "standard", "available", "东直门站", no_signal=True),
            _bike("B128000", "standard", "available", "国贸站", fault="锁扣无法关闭",
                  repaired_at=min(day(0, "08:30"), now - timedelta(minutes=30))),
            _bike("B200001", "standard", "available", "朝阳公园"),
            _bike("E30001", "ebike", "in_use", None, battery=64, rider="c-1003"),
        ],
        "rides": [
            _ride("R202611230002", "c-1001", "E20931", "ebike", day(-1, "19:05"), 18,
                  "朝阳门站", "三里屯", 5.4, 60, 450),
            # The lock didn't close: 4 h billed for 300 m.
            _ride("R202611230001", "c-1001", "B128000", "standard", day(-1, "08:10"), 240,
                  "国贸站", "国贸站", 0.3, 0, 1200),
            _ride("R202611200007", "c-1001", "B123456", "standard", day(-4, "18:20"), 12,
                  "国贸站", "双井站", 2.1, 5, 150, refunded=True),
            _ride("R202611220003", "c-1002", "B200001", "standard", day(-2, "12:30"), 18,
                  "三里屯", "朝阳公园", 3.2, 8, 150),
            riding,
        ],
        "bookings": [
            _booking("BK20261124001", "c-1001", "L-10001", day(0, "15:00"), 2, 2, "4821"),
            _booking("BK20261201002", "c-1002", "L-10002", day(7, "15:00"), 3, 2, "739164"),
        ],
    }
    # fmt: on


def places() -> list[Row]:
    """Stations, landmarks and the Beijing listings (so "bikes near my stay" has an answer)."""
    stays = [
        city.Point(x.name, x.address_en, x.lat, x.lon) for x in city.LISTINGS if x.city == "北京"
    ]
    return [
        *({**s.point._asdict(), "is_station": True} for s in city.STATIONS),
        *({**p._asdict(), "is_station": False} for p in (*city.LANDMARKS, *stays)),
    ]


def listings() -> list[Row]:
    return [
        {
            "listing_id": x.listing_id,
            "name": x.name,
            "city": x.city,
            "address_zh": x.address_zh,
            "address_en": x.address_en,
            "lat": x.lat,
            "lon": x.lon,
            "nightly_cents": x.nightly_cents,
            "max_guests": x.max_guests,
            "check_in_from": "14:00" if x.kind == "inn" else "15:00",
            "check_out_by": "12:00",
            "wifi": x.wifi,
            "guide": city.checkin_steps(x),
            "routes": city.routes(x),
        }
        for x in city.LISTINGS
    ]


def _customer(
    id: str,
    name: str,
    phone: str,
    language: str,
    tier: str,
    deposit: int,
    balance: int,
    *,
    pass_order_id: str | None = None,
    pass_until: datetime | None = None,
) -> Row:
    return {
        "id": id,
        "name": name,
        "phone": phone,
        "language": language,
        "tier": tier,
        "deposit_cents": deposit,
        "balance_cents": balance,
        "pass_order_id": pass_order_id,
        "pass_until": pass_until,
    }


def _bike(
    code: str,
    kind: str,
    state: str,
    station: str | None,
    *,
    battery: int | None = None,
    fault: str | None = None,
    repaired_at: datetime | None = None,
    no_signal: bool = False,
    rider: str | None = None,
) -> Row:
    return {
        "code": code,
        "type": kind,
        "state": state,
        "battery_pct": battery,
        "station": station,
        "rider": rider,
        "no_signal": no_signal,
        "last_fault": fault,
        "repaired_at": repaired_at,
    }


def _ride(
    ride_id: str,
    customer: str,
    bike: str,
    kind: str,
    started: datetime,
    minutes: int,
    start: str,
    end: str | None,
    km: float,
    climb: float,
    fare: int,
    *,
    refunded: bool = False,
) -> Row:
    return {
        "ride_id": ride_id,
        "customer_id": customer,
        "bike_code": bike,
        "bike_type": kind,
        "started_at": started,
        "ended_at": started + timedelta(minutes=minutes),
        "start_place": start,
        "end_place": end,
        "distance_km": km,
        "climb_m": float(climb),
        "fare_cents": fare,
        "refunded_cents": fare if refunded else 0,
        "status": "refunded" if refunded else "completed",
    }


def _booking(
    booking_id: str,
    customer: str,
    listing_id: str,
    check_in: datetime,
    nights: int,
    guests: int,
    door_code: str,
) -> Row:
    listing = next(x for x in city.LISTINGS if x.listing_id == listing_id)
    return {
        "booking_id": booking_id,
        "customer_id": customer,
        "listing_id": listing_id,
        "check_in": check_in,
        "check_out": local_time(local_day(check_in) + timedelta(days=nights), "12:00"),
        "guests": guests,
        "status": "confirmed",
        "total_cents": listing.nightly_cents * nights,
        "refunded_cents": 0,
        "door_code": door_code,
    }
