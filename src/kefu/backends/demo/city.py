"""The fixed facts of the demo city: Beijing's bike stations, landmarks, listings and the
stations and airports guests arrive at. Names are the canonical names of the skills'
gazetteers (skills/bike/entities.yaml, skills/lodging/entities.yaml), so what the entity
extractor finds is what the backend knows.
"""

from __future__ import annotations

import math
from typing import NamedTuple

TIMEZONE = "Asia/Shanghai"


class Point(NamedTuple):
    name: str
    name_en: str
    lat: float
    lon: float


class Station(NamedTuple):
    point: Point
    elevation_m: int  # for the climb of a ride; Beijing rises to the north-west hills
    weight: int  # how many bikes it tends to hold, relative to the others


def _station(name: str, en: str, lat: float, lon: float, elev: int, weight: int) -> Station:
    return Station(Point(name, en, lat, lon), elev, weight)


STATIONS = (
    _station("朝阳门站", "Chaoyangmen Station", 39.9242, 116.4346, 44, 5),
    _station("东直门站", "Dongzhimen Station", 39.9410, 116.4348, 44, 5),
    _station("西直门站", "Xizhimen Station", 39.9405, 116.3553, 48, 5),
    _station("国贸站", "Guomao Station", 39.9087, 116.4605, 40, 9),
    _station("三里屯", "Sanlitun", 39.9334, 116.4547, 42, 8),
    _station("望京SOHO", "Wangjing SOHO", 39.9965, 116.4811, 43, 8),
    _station("望京站", "Wangjing Station", 39.9985, 116.4690, 43, 5),
    _station("中关村", "Zhongguancun", 39.9834, 116.3164, 52, 8),
    _station("五道口站", "Wudaokou Station", 39.9925, 116.3376, 51, 7),
    _station("北京西站", "Beijing West Railway Station", 39.8946, 116.3223, 47, 4),
    _station("北京南站", "Beijing South Railway Station", 39.8652, 116.3786, 41, 4),
    _station("北京站", "Beijing Railway Station", 39.9042, 116.4273, 42, 4),
    _station("天安门东站", "Tiananmen East Station", 39.9078, 116.4012, 44, 3),
    _station("王府井", "Wangfujing", 39.9147, 116.4110, 44, 5),
    _station("西单", "Xidan", 39.9075, 116.3740, 45, 5),
    _station("鼓楼大街站", "Guloudajie Station", 39.9486, 116.3933, 46, 4),
    _station("南锣鼓巷", "Nanluoguxiang", 39.9370, 116.4033, 45, 4),
    _station("奥林匹克公园站", "Olympic Park Station", 40.0020, 116.3928, 47, 5),
    _station("798艺术区", "798 Art District", 39.9843, 116.4951, 40, 3),
    _station("北京大学东门站", "Peking University East Gate", 39.9918, 116.3157, 52, 5),
    _station("清华大学", "Tsinghua University", 40.0000, 116.3265, 52, 6),
    _station("海淀黄庄站", "Haidian Huangzhuang", 39.9757, 116.3176, 51, 5),
    _station("知春路站", "Zhichunlu", 39.9763, 116.3398, 50, 4),
    _station("西二旗站", "Xi'erqi", 40.0530, 116.3059, 55, 8),
    _station("上地", "Shangdi", 40.0330, 116.3106, 54, 6),
    _station("回龙观", "Huilongguan", 40.0709, 116.3362, 50, 6),
    _station("天通苑", "Tiantongyuan", 40.0745, 116.4125, 46, 6),
    _station("双井站", "Shuangjing", 39.8933, 116.4619, 38, 4),
    _station("大望路站", "Dawanglu", 39.9081, 116.4760, 39, 5),
    _station("团结湖站", "Tuanjiehu", 39.9336, 116.4618, 41, 3),
    _station("工人体育场", "Workers' Stadium", 39.9298, 116.4470, 42, 3),
    _station("朝阳公园", "Chaoyang Park", 39.9439, 116.4779, 40, 3),
    _station("颐和园", "Summer Palace", 39.9999, 116.2755, 60, 3),
    _station("首都机场T3航站楼", "Capital Airport T3", 40.0522, 116.6107, 35, 1),
)
# Rides to or from here go up Longevity Hill and the Western Hills: e-bike country.
HILLY = frozenset({"颐和园"})

# Places people ask about that are not stations (bikes near the listings, the lake, the airport).
LANDMARKS = (
    Point("后海", "Houhai", 39.9404, 116.3840),
    Point("北京首都国际机场", "Beijing Capital Airport", 40.0799, 116.6031),
)


class Listing(NamedTuple):
    listing_id: str
    name: str
    city: str
    lat: float
    lon: float
    nightly_cents: int
    max_guests: int
    kind: str  # courtyard, apartment or inn: how you get in
    floor: int
    address_zh: str
    address_en: str
    arrive_zh: str  # the last public-transport stop, or how to get there
    arrive_en: str
    walk_min: int
    wifi: str


# fmt: off
LISTINGS = (
    Listing("L-10001", "后海胡同四合院", "北京", 39.9407, 116.3858, 68800, 4, "courtyard", 1,
            "北京市西城区后海北沿甲23号", "23A Houhai North Bank, Xicheng District, Beijing",
            "地铁鼓楼大街站A口", "Guloudajie Station (Line 2/8), exit A", 12,
            "Houhai-Courtyard / hutong2026"),
    Listing("L-10002", "三里屯Loft", "北京", 39.9350, 116.4540, 52800, 3, "apartment", 12,
            "北京市朝阳区三里屯路19号院3号楼1202",
            "Unit 1202, Building 3, 19 Sanlitun Road, Chaoyang District, Beijing",
            "地铁团结湖站D口", "Tuanjiehu Station (Line 10), exit D", 10,
            "Sanlitun-Loft / loft1202"),
    Listing("L-10003", "国贸江景公寓", "北京", 39.9095, 116.4590, 89800, 4, "apartment", 28,
            "北京市朝阳区建国门外大街1号国贸公寓B座2806",
            "Apt 2806, Tower B, 1 Jianguomenwai Avenue, Chaoyang District, Beijing",
            "地铁国贸站E口", "Guomao Station (Line 1/10), exit E", 5, "CBD-Skyline / sky2806"),
    Listing("L-10004", "望京Studio", "北京", 39.9970, 116.4720, 32800, 2, "apartment", 15,
            "北京市朝阳区望京西园三区312号楼1508",
            "Apt 1508, Building 312, Wangjing Xiyuan 3rd District, Chaoyang District, Beijing",
            "地铁望京站C口", "Wangjing Station (Line 14/15), exit C", 8,
            "Wangjing-Studio / studio1508"),
    Listing("L-10005", "鼓楼小院", "北京", 39.9448, 116.3965, 59800, 4, "courtyard", 1,
            "北京市东城区鼓楼东大街宝钞胡同27号",
            "27 Baochao Hutong, Gulou East Street, Dongcheng District, Beijing",
            "地铁鼓楼大街站B口", "Guloudajie Station (Line 2/8), exit B", 9,
            "Drum-Tower-Yard / gulou27"),
    Listing("L-10006", "外滩江景房", "上海", 31.2365, 121.4905, 99800, 3, "apartment", 21,
            "上海市黄浦区中山东二路88号2103室",
            "Apt 2103, 88 Zhongshan East 2nd Road, Huangpu District, Shanghai",
            "地铁南京东路站3号口", "East Nanjing Road Station (Line 2/10), exit 3", 10,
            "Bund-View / bund2103"),
    Listing("L-10007", "静安寺一居室", "上海", 31.2240, 121.4460, 45800, 2, "apartment", 5,
            "上海市静安区愚园路68号502室", "Apt 502, 68 Yuyuan Road, Jing'an District, Shanghai",
            "地铁静安寺站1号口", "Jing'an Temple Station (Line 2/7), exit 1", 6,
            "Jingan-502 / yuyuan68"),
    Listing("L-10008", "西湖湖景民宿", "杭州", 30.2590, 120.1480, 72800, 3, "inn", 2,
            "杭州市西湖区北山街42号", "42 Beishan Street, Xihu District, Hangzhou",
            "地铁龙翔桥站C口", "Longxiangqiao Station (Line 1), exit C", 15,
            "WestLake-Inn / xihu42"),
    Listing("L-10009", "鼓浪屿海景房", "厦门", 24.4460, 118.0680, 56800, 2, "inn", 2,
            "厦门市思明区鼓浪屿漳州路16号", "16 Zhangzhou Road, Gulangyu, Siming District, Xiamen",
            "东渡邮轮中心乘轮渡到三丘田码头", "Dongdu Cruise Centre, ferry to Sanqiutian Pier", 18,
            "Gulangyu-Sea / ocean16"),
    Listing("L-10010", "大理洱海客栈", "大理", 25.6950, 100.1900, 38800, 2, "inn", 1,
            "大理市大理镇才村码头18号", "18 Caicun Pier, Dali Town, Dali",
            "才村码头公交站", "Caicun Pier bus stop", 3, "Erhai-Inn / erhai18"),
    Listing("L-10011", "丽江古城小院", "丽江", 26.8760, 100.2380, 42800, 4, "courtyard", 1,
            "丽江市古城区五一街文治巷56号", "56 Wenzhi Lane, Wuyi Street, Old Town, Lijiang",
            "古城北门（大水车）", "Old Town north gate (the Water Wheels)", 12,
            "Lijiang-Yard / naxi56"),
    Listing("L-10012", "三亚湾海景公寓", "三亚", 18.2780, 109.4650, 66800, 4, "apartment", 18,
            "三亚市天涯区三亚湾路168号海韵公寓1806",
            "Apt 1806, Haiyun Residences, 168 Sanya Bay Road, Tianya District, Sanya",
            "三亚湾路海韵站", "Haiyun stop on Sanya Bay Road", 3, "SanyaBay-1806 / beach168"),
    Listing("L-10013", "成都太古里公寓", "成都", 30.6540, 104.0830, 55800, 3, "apartment", 22,
            "成都市锦江区中纱帽街8号2201室",
            "Apt 2201, 8 Zhongshamao Street, Jinjiang District, Chengdu",
            "地铁春熙路站D口", "Chunxi Road Station (Line 2/3), exit D", 5,
            "TaikooLi-2201 / panda22"),
)
# fmt: on

# Where guests arrive, by city: the origins route_to_listing knows.
ARRIVALS: dict[str, tuple[Point, ...]] = {
    "北京": (
        Point("北京首都国际机场", "Beijing Capital Airport", 40.0799, 116.6031),
        Point("北京站", "Beijing Railway Station", 39.9042, 116.4273),
        Point("北京西站", "Beijing West Railway Station", 39.8946, 116.3223),
        Point("北京南站", "Beijing South Railway Station", 39.8652, 116.3786),
    ),
    "上海": (Point("上海虹桥站", "Shanghai Hongqiao Station", 31.1945, 121.3205),),
    "杭州": (Point("杭州东站", "Hangzhou East Station", 30.2905, 120.2127),),
    "厦门": (Point("厦门高崎国际机场", "Xiamen Gaoqi Airport", 24.5440, 118.1277),),
    "大理": (Point("大理站", "Dali Railway Station", 25.5890, 100.2530),),
    "丽江": (Point("丽江三义国际机场", "Lijiang Sanyi Airport", 26.6790, 100.2460),),
    "三亚": (Point("三亚凤凰国际机场", "Sanya Phoenix Airport", 18.3030, 109.4120),),
    "成都": (Point("成都东站", "Chengdu East Station", 30.6300, 104.1420),),
}


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def checkin_steps(listing: Listing) -> dict[str, list[str]]:
    """How to get in, in both languages. The door code is never in the guide: it is given
    only after the guest's identity is verified."""
    if listing.kind == "courtyard":
        zh = [
            f"到达{listing.address_zh}，找到门牌号旁的红色木门。",
            "在门右侧的密码锁上输入门锁密码，再按 #。",
            "进门后穿过院子，您的房间在正房，钥匙在茶几上。",
        ]
        en = [
            f"Go to {listing.address_en} and find the red wooden door by the house number.",
            "Enter the door code on the keypad to the right of the door, then press #.",
            "Cross the courtyard: your room is the main hall; the key is on the tea table.",
        ]
    elif listing.kind == "apartment":
        zh = [
            f"到达{listing.address_zh}，在大堂向前台出示预订号。",
            f"乘电梯到{listing.floor}楼。",
            "在门上的智能锁输入门锁密码，再按 #。",
        ]
        en = [
            f"Go to {listing.address_en} and show your booking id at the lobby desk.",
            f"Take the lift to floor {listing.floor}.",
            "Enter the door code on the smart lock, then press #.",
        ]
    else:
        zh = [
            f"到达{listing.address_zh}，客栈前台 8:00-22:00 有人值班。",
            "22:00 以后到达：在门口的密码锁输入门锁密码，钥匙在前台的信封里。",
            f"您的房间在{listing.floor}楼。",
        ]
        en = [
            f"Go to {listing.address_en}; the front desk is staffed 8:00-22:00.",
            "Arriving after 22:00: enter the door code at the gate; your key is in an "
            "envelope at the front desk.",
            f"Your room is on floor {listing.floor}.",
        ]
    zh.append(f"Wi-Fi：{listing.wifi}。退房时把钥匙留在房间，关好门即可。")
    en.append(f"Wi-Fi: {listing.wifi}. At check-out, leave the key in the room and close the door.")
    return {"zh": zh, "en": en}


def routes(listing: Listing) -> dict[str, dict[str, object]]:
    """Directions from each arrival point of the listing's city, and ("") from anywhere."""
    map_url = f"https://uri.amap.com/marker?position={listing.lon},{listing.lat}&name={listing.listing_id}"
    last_zh = f"从{listing.arrive_zh}步行约{listing.walk_min}分钟到{listing.address_zh}。"
    last_en = (
        f"From {listing.arrive_en}, walk about {listing.walk_min} min to {listing.address_en}."
    )
    found: dict[str, dict[str, object]] = {
        "": {"zh": [last_zh], "en": [last_en], "map_url": map_url}
    }
    for origin in ARRIVALS[listing.city]:
        km = distance_km(origin.lat, origin.lon, listing.lat, listing.lon) * 1.3
        transit, taxi = round(km * 2.2 + 12), round(km * 1.8 + 8)
        taxi_yuan = max(13, round(13 + 2.3 * (km - 3)))
        zh = [f"从{origin.name}乘公共交通到{listing.arrive_zh}，约{transit}分钟。", last_zh]
        en = [
            f"From {origin.name_en}, take public transport to {listing.arrive_en}, "
            f"about {transit} min.",
            last_en,
        ]
        if listing.listing_id != "L-10009":  # Gulangyu is car-free
            zh.append(f"或打车约{taxi}分钟，约{taxi_yuan}元，导航到“{listing.name}”。")
            en.append(
                f"Or take a taxi: about {taxi} min and {taxi_yuan} CNY; "
                f"show the driver the address."
            )
        found[origin.name] = {"zh": zh, "en": en, "map_url": map_url}
    return found
