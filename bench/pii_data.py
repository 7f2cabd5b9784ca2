"""Labelled chat lines for the PII benchmark: customer-service messages of bike/scooter sharing
and shared lodging, in Chinese and English, with every PII type and many near-misses.

    .venv/bin/python bench/pii_data.py --n 2500 --seed 1 --out dev.jsonl

Each line: {"text", "spans": [{"type", "start", "end"}], "names": [declared names]}; spans are
character offsets in `text` and cover the value as typed (separators, zero-width characters and
a +86 prefix included). What is labelled, decided before any detector was tuned on it:
- phone: a personal number: a mainland mobile on an allocated prefix, a landline, a +country
  number. 400/800 hotlines belong to companies and are not labelled.
- id_card, bank_card: only values that validate (GB 11643 checksum, Luhn with a real issuer).
- address: a place fine enough to find someone: a street with its house number, a building,
  unit or room, or a street or compound qualified by its district. A bare city, district,
  street, station or room number is not one. An English address runs from its unit or house
  number ("Apt 5, 12 Oak Road", "No. 88 Jianguo Road") through the street type and a unit
  after it, then takes the comma-separated district and town that follow (", Chaoyang
  District, Beijing"); the sentence after the town is not part of it ("12 oak road, london
  has no hot water" labels "12 oak road, london"), and neither is a town without a comma
  (kefu.privacy.address includes one only before a state or postcode: "Springfield IL
  62704"; this generator writes every town after a comma). Lower-cased addresses (12% of
  English ones) are labelled the same way.
- name: a declared name wherever it appears, or the name a customer gives after saying who
  they are. A surname alone ("我姓王") is not labelled.
- Anything right after an order, ride, booking or tracking cue is that id, whatever it looks
  like; timestamps, amounts, bike codes and numbers inside longer runs are not PII.
Noise: typos, emoji, traditional characters, full-width digits, zero-width characters inside
values, spaces and dashes inside numbers, lower-case English.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable
from pathlib import Path

R = random.Random()

# --- values --------------------------------------------------------------------------------

# Allocated mobile prefixes (China Mobile, Unicom, Telecom, Broadnet, virtual operators).
MOBILE_PREFIXES = (  # noqa: SIM905 - a word list reads best as text
    "130 131 132 133 134 135 136 137 138 139 145 147 149 150 151 152 153 155 156 157 158 159 "
    "162 165 166 167 170 171 172 173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 "
    "190 191 192 193 195 196 197 198 199"
).split()
AREA_CODES = (  # noqa: SIM905 - a word list reads best as text
    "010 020 021 022 023 024 025 027 028 029 0755 0571 0512 0731 0592 0871 0351 0531 0532 0551 "
    "0591 0371 0311 0431 0451 0851 0898 0757 0769 0574 0411"
).split()
SEVEN_DIGITS = ("0592", "0351")  # Xiamen and Taiyuan still have 7-digit subscriber numbers
ID_REGIONS = (  # noqa: SIM905 - a word list reads best as text
    "110101 110105 110108 310101 310115 310104 440305 440304 440106 330106 330108 320102 320506 "
    "510107 510104 420106 610113 500103 120101 210102 370102 410105 430104 350203 530102 450103 "
    "220102 230103 130102 140105 150102 340104 360102 460105 520102 620102 630102 640104 650102 "
    "540102"
).split()
CARD_BINS = [  # (issuer prefix, length): Chinese banks' UnionPay BINs, Visa, Mastercard, JCB, Amex
    *[("622202", 19), ("621226", 19), ("621700", 19), ("622700", 19), ("622848", 19)],
    *[("621661", 19), ("622262", 19), ("622588", 16), ("621483", 16), ("622609", 16)],
    *[("625911", 16), ("628288", 16), ("438088", 16), ("427020", 16), ("4", 16)],
    *[("524047", 16), ("552599", 16), ("51", 16), ("2221", 16), ("2720", 16)],
    *[("3528", 16), ("3566", 16), ("34", 15), ("37", 15)],
]
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "慕容")
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超华慧文晓红玲斌宇浩鹏欣婷雪琳晨阳佳怡涵梓轩然思雨嘉俊志"
    "刚平辉彬鑫霞峰凯丹萍倩颖瑶璐瑜博宁航帆飞亮健坤"
)
FIRST = (  # noqa: SIM905 - a word list reads best as text
    "John Mary Linda James Emma Olivia Liam Noah Sophia Mia David Sarah Michael Anna Tom Lucy "
    "Priya Ahmed Carlos Yuki Kevin Grace Daniel Chloe Ethan Hannah Omar Elena Lucas Zoe"
).split()
LAST = (  # noqa: SIM905 - a word list reads best as text
    "Smith Johnson Brown Lee Wang Zhang Garcia Miller Davis Wilson Taylor Chen O'Brien Nguyen "
    "Kim Patel Martin Clarke Lopez Schmidt Rossi Tanaka Murphy Walker"
).split()
MAIL_DOMAINS = (  # noqa: SIM905 - a word list reads best as text
    "qq.com 163.com 126.com gmail.com outlook.com hotmail.com foxmail.com sina.com yahoo.com "
    "icloud.com example.co.uk mail.tsinghua.edu.cn company.com.cn proton.me"
).split()

CITIES = {  # city: (province or "", {district: [streets]})
    "北京": (
        "",
        {
            "朝阳区": ["建国路", "朝阳路", "工体北路", "望京街"],
            "海淀区": ["中关村大街", "学院路", "知春路"],
            "东城区": ["王府井大街", "东直门内大街"],
        },
    ),
    "上海": (
        "",
        {
            "浦东新区": ["世纪大道", "张杨路", "陆家嘴环路"],
            "徐汇区": ["淮海中路", "漕溪北路"],
            "静安区": ["南京西路", "延安中路"],
        },
    ),
    "深圳": (
        "广东",
        {
            "南山区": ["深南大道", "南海大道", "后海大道"],
            "福田区": ["福华路", "益田路"],
            "宝安区": ["宝安大道", "新安路"],
        },
    ),
    "广州": (
        "广东",
        {
            "天河区": ["天河路", "体育西路"],
            "越秀区": ["中山五路", "北京路"],
            "海珠区": ["新港中路"],
        },
    ),
    "杭州": (
        "浙江",
        {
            "西湖区": ["文三路", "教工路", "天目山路"],
            "滨江区": ["江南大道", "网商路"],
            "上城区": ["解放路"],
        },
    ),
    "成都": (
        "四川",
        {
            "武侯区": ["人民南路", "科华北路"],
            "锦江区": ["春熙路", "红星路"],
            "高新区": ["天府大道", "益州大道"],
        },
    ),
    "南京": ("江苏", {"鼓楼区": ["中山路", "广州路"], "玄武区": ["珠江路", "中山东路"]}),
    "武汉": ("湖北", {"洪山区": ["珞喻路", "珞狮路"], "江汉区": ["解放大道", "江汉路"]}),
    "西安": ("陕西", {"雁塔区": ["长安南路", "小寨东路"], "碑林区": ["东大街"]}),
    "重庆": ("", {"渝中区": ["民族路", "中山四路"], "江北区": ["建新北路"]}),
}
MIDS = ["科技园", "中关村", "陆家嘴", "西溪街道", "望京街道", "张江镇"]
COMPOUNDS = (  # noqa: SIM905 - a word list reads best as text
    "阳光花园 万科城 碧桂园 SOHO现代城 保利中心 华润大厦 绿地广场 金地名苑 幸福家园 锦绣华庭 "
    "时代广场 世纪公寓 和平里小区 星河世纪 滨江花园 海岸城 翠湖天地 国贸大厦 融创公馆"
).split()
EN_STREETS = (  # noqa: SIM905 - a word list reads best as text
    "Baker Oak Maple High Market Elm Park Church Victoria Queen King Amphitheatre Pine Cedar "
    "Mission Harbour Station Mill George Collins"
).split()
EN_SUFFIXES = (  # noqa: SIM905 - a word list reads best as text
    "Street St Road Rd Avenue Ave Lane Drive Parkway Boulevard Way Close Place Crescent"
).split()
EN_CITIES = [
    "London",
    "Mountain View",
    "San Francisco",
    "New York",
    "Seattle",
    "Boston",
    "Sydney",
    "Toronto",
    "Manchester",
    "Melbourne",
    "Vancouver",
    "Edinburgh",
]
PINYIN = [
    ("Jianguo", "Chaoyang", "Beijing"),
    ("Shennan", "Nanshan", "Shenzhen"),
    ("Huaihai", "Xuhui", "Shanghai"),
    ("Wensan", "Xihu", "Hangzhou"),
]

ZERO_WIDTH = "\u200b\u200c\u200d\ufeff"
EMOJI = ["😊", "🙏", "😡", "👍", "🚲", "🛵", "🏠", "😭", "❤️", "🤔", "😤", "🔑"]


def digits(n: int) -> str:
    return "".join(R.choice("0123456789") for _ in range(n))


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def id_check(body: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def group(number: str, sizes: list[int], sep: str) -> str:
    out, at = [], 0
    for size in sizes:
        out.append(number[at : at + size])
        at += size
    if at < len(number):
        out.append(number[at:])
    return sep.join(out)


def mobile_number(prefix: str | None = None) -> str:
    return (prefix or R.choice(MOBILE_PREFIXES)) + digits(8)


def mobile() -> str:
    number = mobile_number()
    style = R.random()
    if style < 0.45:
        text = number
    elif style < 0.7:
        text = group(number, [3, 4, 4], R.choice([" ", "-"]))
    elif style < 0.8:
        text = group(number, [3, 4, 4], " ")
        return R.choice(["+86 ", "+86-", "+86", "0086 ", "(+86)"]) + text
    else:
        text = R.choice(["+86 ", "+86", "86-", "0086"]) + number
    return text


def landline() -> str:
    area = R.choice(AREA_CODES)
    sub = R.choice("2345678") + digits(6 if area in SEVEN_DIGITS else 7)
    style = R.random()
    if style < 0.35:
        return f"{area}-{sub}"
    if style < 0.55:
        return f"{area} {sub[:-4]} {sub[-4:]}"
    if style < 0.7:
        return f"({area}){sub}"
    if style < 0.85:
        return f"+86 {area[1:]} {sub}"
    return area + sub


def intl_phone() -> str:
    kind = R.randrange(8)
    if kind == 0:
        area = R.choice(["415", "212", "646", "310", "206", "617", "312", "202"])
        return f"+1 {area} {R.choice('23456789')}{digits(2)} {digits(4)}"
    if kind == 1:
        return R.choice(
            [f"+44 20 7{digits(3)} {digits(4)}", f"+44 7{R.choice('45789')}{digits(2)} {digits(6)}"]
        )
    if kind == 2:
        mobile = (
            f"+81 {R.choice(['90', '80', '70'])}-{R.choice('123456789')}{digits(3)}-{digits(4)}"
        )
        return R.choice([f"+81 3-{R.choice('123456789')}{digits(3)}-{digits(4)}", mobile])
    if kind == 3:
        return f"+65 {R.choice(['8', '9'])}{R.choice('12345678')}{digits(2)} {digits(4)}"
    if kind == 4:
        return f"+852 {R.choice('69')}{digits(3)} {digits(4)}"
    if kind == 5:
        return f"+61 4{R.choice('0123')}{digits(1)} {digits(3)} {digits(3)}"  # 0400-0439
    if kind == 6:
        return f"+82 10-{R.choice('23456789')}{digits(3)}-{digits(4)}"
    return f"+49 30 {R.choice('23456789')}{digits(7)}"


def id_number(valid: bool = True) -> str:
    year = R.randrange(1950, 2007)
    month, day = R.randrange(1, 13), R.randrange(1, 29)
    body = f"{R.choice(ID_REGIONS)}{year}{month:02d}{day:02d}{digits(3)}"
    check = id_check(body)
    if not valid:
        check = R.choice([c for c in "0123456789X" if c != check])
    return body + check


def id_card(valid: bool = True) -> str:
    number = id_number(valid)
    if number.endswith("X") and R.random() < 0.3:
        number = number[:-1] + "x"
    if R.random() < 0.1:
        return group(number, [6, 8, 4], " ")
    return number


def card_number(valid: bool = True) -> str:
    prefix, length = R.choice(CARD_BINS)
    body = prefix + digits(length - len(prefix) - 1)
    check = luhn_digit(body)
    if not valid:
        check = R.choice([c for c in "0123456789" if c != check])
    return body + check


def bank_card(valid: bool = True) -> str:
    number = card_number(valid)
    style = R.random()
    if style < 0.5:
        return number
    if len(number) == 15:
        return group(number, [4, 6, 5], R.choice([" ", "-"]))
    return group(number, [4, 4, 4, 4], R.choice([" ", " ", "-"]))


def email() -> str:
    first, last = R.choice(FIRST).lower().replace("'", ""), R.choice(LAST).lower().replace("'", "")
    local = R.choice(
        [
            f"{first}.{last}",
            f"{first}{R.randrange(1, 99)}",
            f"{first[0]}{last}",
            digits(R.randrange(6, 11)).lstrip("0") or "12345",
            f"{first}_{last}{R.randrange(1980, 2005)}",
            f"{first}+bike",
            f"{last}.{first[0]}",
            f"zhang{R.choice(['wei', 'san', 'li'])}{digits(2)}",
        ]
    )
    if local[0] == "+":
        local = "a" + local
    return f"{local}@{R.choice(MAIL_DOMAINS)}"


def plate() -> str:
    head = R.choice(PROVINCES) + R.choice(PLATE_LETTERS)
    if R.random() < 0.3:  # new energy: D/F then 5, or 5 digits then D/F
        serial = R.choice("DF") + R.choice(PLATE_LETTERS + "0123456789") + digits(4)
        if R.random() < 0.3:
            serial = digits(5) + R.choice("DF")
    else:
        chars = list(digits(5))
        for _ in range(R.choice([0, 0, 1, 1, 2])):
            chars[R.randrange(5)] = R.choice(PLATE_LETTERS)
        serial = "".join(chars)
    return head + R.choice(["", "", "", "·", " "]) + serial


def zh_name() -> str:
    surname = R.choice(COMPOUND_SURNAMES) if R.random() < 0.05 else R.choice(SURNAMES)
    return surname + "".join(R.choice(GIVEN) for _ in range(R.choice([1, 2, 2])))


def en_name(words: int | None = None) -> str:
    count = words or R.choice([1, 2, 2])
    return R.choice(FIRST) if count == 1 else f"{R.choice(FIRST)} {R.choice(LAST)}"


def room() -> str:
    return f"{R.randrange(1, 33)}{R.randrange(1, 12):02d}"


def zh_address() -> str:
    city = R.choice(list(CITIES))
    province, districts = CITIES[city]
    district = R.choice(list(districts))
    street = R.choice(districts[district])
    number = (
        R.choice(
            [
                str(R.randrange(1, 300)),
                str(R.randrange(1, 10000)),
                f"{R.randrange(1, 99)}-{R.randrange(1, 9)}",
            ]
        )
        + "号"
    )
    building = R.choice(
        [
            f"{R.randrange(1, 30)}号楼",
            f"{R.randrange(1, 30)}栋",
            f"{R.choice('ABCD')}座",
            f"{R.randrange(1, 12)}幢",
        ]
    )
    unit = f"{R.randrange(1, 8)}单元"
    rm = R.choice([f"{room()}室", room(), f"{room()}房"])
    head = city + "市" if R.random() < 0.8 else city
    if province and R.random() < 0.4:
        head = province + "省" + head
    form = R.randrange(6)
    if form == 0:
        parts = [head, district, street, number]
        parts += [R.choice(COMPOUNDS)] if R.random() < 0.4 else []
        parts += [building, rm] if R.random() < 0.5 else []
    elif form == 1:
        parts = [district, R.choice(MIDS) if R.random() < 0.5 else "", street, number]
    elif form == 2:
        parts = [street, number] + ([building] if R.random() < 0.3 else [])
    elif form == 3:
        parts = [
            head if R.random() < 0.5 else "",
            district,
            R.choice(COMPOUNDS),
            building,
            unit if R.random() < 0.5 else "",
            rm,
        ]
    elif form == 4:
        parts = [R.choice(COMPOUNDS), building, unit, rm]
    else:
        parts = [head, district, street, number, building, f"{R.randrange(2, 30)}楼"]
    return "".join(parts)


def en_address() -> str:
    form = R.randrange(5)
    number = R.choice(
        [
            str(R.randrange(1, 300)),
            str(R.randrange(100, 3000)),
            f"{R.randrange(1, 300)}{R.choice('AB')}",
        ]
    )
    street = f"{number} {R.choice(EN_STREETS)} {R.choice(EN_SUFFIXES)}"
    unit = R.choice(
        [
            f"Apt {R.randrange(1, 40)}",
            f"Flat {R.randrange(1, 20)}",
            f"Unit {R.randrange(1, 60)}",
            f"Suite {R.randrange(100, 900)}",
        ]
    )
    city = R.choice(EN_CITIES)
    if form == 0:
        text = street
    elif form == 1:
        text = f"{street}, {city}"
    elif form == 2:
        text = f"{unit}, {street}"
    elif form == 3:
        text = f"{street}, {unit}, {city}"
    else:
        road, district, town = R.choice(PINYIN)
        text = f"No. {R.randrange(1, 300)} {road} Road, {district} District, {town}"
        if R.random() < 0.5:
            text = f"Room {room()}, {text}"
    return text.lower() if R.random() < 0.12 else text


# --- near-misses (never labelled) ----------------------------------------------------------


def bad_mobile() -> str:
    return R.choice(
        [
            "12345678901",
            "1" + R.choice("012") + digits(9),
            "10" + digits(9),
            "1" + R.choice(["54", "60", "61", "64", "69", "79", "94"]) + digits(8),
        ]
    )


def long_run() -> str:
    inner = mobile_number()
    return R.choice(
        [digits(3) + inner, "2024" + inner + digits(2), inner + digits(R.randrange(2, 5))]
    )


def timestamp() -> str:
    month, day, hour = R.randrange(1, 13), R.randrange(1, 29), R.randrange(0, 24)
    return f"2024{month:02d}{day:02d}{hour:02d}{R.randrange(0, 60):02d}{R.randrange(0, 60):02d}"


def amount() -> str:
    value = R.choice(
        [f"{R.randrange(1, 99999)}.{R.randrange(0, 100):02d}", str(R.randrange(1, 5000))]
    )
    return R.choice([f"¥{value}", f"{value}元", f"${value}", f"￥{value}", f"RMB {value}"])


def bike_code() -> str:
    return R.choice([f"B{digits(6)}", f"E{digits(5)}", f"HB{digits(8)}", digits(9)])


def hotline() -> str:
    return R.choice(
        [
            f"400-{digits(3)}-{digits(4)}",
            f"400{digits(7)}",
            f"800-{digits(3)}-{digits(4)}",
            "95188",
            "10086",
        ]
    )


def order_id() -> str:
    return R.choice(
        [
            mobile_number(),
            mobile_number(),
            timestamp() + digits(4),
            card_number(),
            digits(12),
            f"R{timestamp()[:8]}{digits(4)}",
            f"BK{digits(11)}",
        ]
    )


SLOTS: dict[str, tuple[Callable[[], str], str | None]] = {
    "mobile": (mobile, "phone"),
    "landline": (landline, "phone"),
    "intl": (intl_phone, "phone"),
    "id": (id_card, "id_card"),
    "card": (bank_card, "bank_card"),
    "email": (email, "email"),
    "plate": (plate, "plate"),
    "addr": (zh_address, "address"),
    "en_addr": (en_address, "address"),
    "name": (zh_name, "name"),
    "en_name": (en_name, "name"),
    "en_first": (lambda: en_name(1), "name"),
    "bad_mobile": (bad_mobile, None),
    "bad_id": (lambda: id_card(valid=False), None),
    "bad_card": (lambda: bank_card(valid=False), None),
    "long_run": (long_run, None),
    "ts": (timestamp, None),
    "amount": (amount, None),
    "bike": (bike_code, None),
    "hotline": (hotline, None),
    "order": (order_id, None),
    "surname": (lambda: R.choice(SURNAMES), None),
    "room": (room, None),
    "n": (lambda: str(R.randrange(1, 30)), None),
    "city": (lambda: R.choice(list(CITIES)), None),
    "district": (lambda: R.choice([d for _, ds in CITIES.values() for d in ds]), None),
    "street": (
        lambda: R.choice([s for _, ds in CITIES.values() for v in ds.values() for s in v]),
        None,
    ),
    "en_street": (lambda: f"{R.choice(EN_STREETS)} {R.choice(EN_SUFFIXES)}", None),
}

# --- messages --------------------------------------------------------------------------------
# {slot} is filled from SLOTS; {staff} / {staff_en} is a declared name (it joins "names").

ZH = [
    "我的手机号是{mobile}，麻烦回个电话",
    "电话{mobile}，联系我",
    "手机：{mobile} 打不通的话发短信",
    "联系方式 {mobile} 谢谢",
    "你们打我{mobile}这个号吧",
    "打{landline}找前台就行",
    "民宿座机是{landline}吗？一直没人接",
    "我在国外，号码{intl}，请用这个联系我",
    "我的身份证号{id}，帮我实名认证一下",
    "实名认证失败，身份证号码：{id}",
    "入住登记用的证件号是{id}",
    "退款请打到我的卡上：{card}",
    "银行卡号{card} 户名是我本人",
    "押金退到这张卡{card}可以吗",
    "发票发到邮箱{email}",
    "我的邮箱是{email}，收不到验证码",
    "车牌{plate}的车停在我们小区门口挡路了",
    "接我的车是{plate}，司机不见了",
    "我的电动车被{plate}撞了，车主跑了",
    "停车场里那辆{plate}占了我的车位",
    "我住在{addr}，附近没有车",
    "地址是{addr}，帮我送过来",
    "收货地址：{addr}",
    "房子在{addr}，门锁打不开",
    "请问{addr}附近有还车点吗",
    "我家{addr}，快递一直没到",
    "车停在{addr}门口了",
    "我叫{name}，手机{mobile}",
    "我是{name}，昨天订的房",
    "联系人：{name} {mobile}",
    "入住人{name}，身份证{id}",
    "你好，我叫{name}，押金还没退",
    "{staff}师傅修车很快，点赞",
    "请转告{staff}，房间空调坏了",
    "上次是{staff}帮我处理的",
    "订单号{order}，车费扣了两次",
    "订单号 {order} 帮我查一下",
    "我的订单{order}还没退款",
    "行程编号：{order}，计费不对",
    "单号{order}，怎么还没到",
    "运单号{order}",
    "车辆编号{bike}扫不开",
    "车号{bike}的锁坏了",
    "这辆{bike}刹车失灵",
    "扣了我{amount}，太离谱了",
    "押金{amount}什么时候退",
    "{ts}的那笔扣费是什么",
    "流水号{long_run}，请核实",
    "交易号{long_run}",
    "我打{hotline}一直占线",
    "客服电话{hotline}没人接",
    "我输入{bad_mobile}提示号码错误",
    "身份证号{bad_id}提示校验失败，是不是输错了",
    "卡号{bad_card}绑不上",
    "我在{city}，能用吗",
    "{city}有你们的车吗",
    "{city}市{district}有没有房源",
    "我在{street}上，附近没车",
    "我姓{surname}，刚才打过电话",
    "我叫了三次车都没人接",
    "我是新用户，怎么开锁",
    "我是房东，想上架房源",
    "我是白金会员，为什么还要押金",
    "我是学生，有没有优惠",
    "我是第一次用，怎么还车",
    "我是高中生能注册吗",
    "我是从机场过来的，{city}哪里有车",
    "我叫的车一直不来",
    "我住{room}房，热水没了",
    "{room}室的空调坏了",
    "地铁{n}号线出口有车吗",
    "我{n}号入住，{n}号退房",
    "我的電話是{mobile}，麻煩回電",
    "訂單號{order}，退款還沒到",
    "我叫{name}，身份證{id}",
    "email是{email}，phone是{mobile}",
    "我的wifi连不上，房号{room}",
    "APP一直闪退，我的账号是{mobile}",
    "我的账号{email}登录不了",
    "开锁码是{n}{n}，没反应",
    "电话：{mobile}，地址：{addr}",
    "收件人{name}，{mobile}，{addr}",
]
EN = [
    "My phone number is {mobile}, please call me back",
    "call me on {mobile} pls",
    "You can reach me at {intl}",
    "my number: {intl}",
    "The host's landline {landline} doesn't answer",
    "Please refund to my card {card}",
    "card number {card}, thanks",
    "My ID number is {id} for the check-in",
    "passport won't work, use my Chinese ID {id}",
    "My email is {email}",
    "send the invoice to {email} please",
    "The car that hit my scooter was {plate}",
    "a taxi ({plate}) is blocking the bike parking",
    "I live at {en_addr} and there are no bikes nearby",
    "My address is {en_addr}",
    "Please deliver the key to {en_addr}",
    "The apartment at {en_addr} has no hot water",
    "Is there a parking spot near {en_addr}?",
    "the flat is {en_addr}, door code not working",
    "My name is {en_name}, booking under my name",
    "Hi, this is {en_name}, I booked room {room}",
    "my name is {en_name} and my phone is {mobile}",
    "Contact person: {en_name}, {intl}",
    "Hi, I'm {en_first}, the scooter won't unlock",
    "{staff_en} was very helpful yesterday",
    "Please tell {staff_en} the heater is broken",
    "Order {order} charged me twice",
    "order #{order} still not refunded",
    "My booking ref is {order}",
    "ride id: {order}, wrong fare",
    "tracking number {order}",
    "Bike {bike} has a flat tyre",
    "scooter code {bike} won't start",
    "You charged me {amount}!!",
    "The charge at {ts} is wrong",
    "transaction {long_run} failed",
    "I called {hotline} but nobody answered",
    "It says {bad_mobile} is not a valid number",
    "my ID {bad_id} is rejected, checksum error?",
    "card {bad_card} can't be added",
    "I'm in {city}, can I use the app?",
    "I'm waiting on {en_street}, no bikes here",
    "This is ridiculous, third time this week",
    "this is the worst app ever",
    "My name is on the booking already",
    "I'm Chinese, can I use my ID card?",
    "This is Mobike, right?",
    "my name is misspelled on the booking",
    "I'm in room {room}, the wifi is down",
    "Room {room} has no towels",
    "Gate {n} of the station, where are the bikes?",
    "I waited {n} minutes on the road",
    "We have {n} people, is the place big enough?",
    "My wife's number is {mobile} and mine is {intl}",
    "Email {email}, phone {mobile}, address {en_addr}",
    "I'm staying at {addr}, the lock is broken",
    "my chinese address is {addr}",
]
GREET_ZH = ["", "", "你好，", "您好！", "在吗？", "客服你好 ", "hi，", "急！"]
CLOSE_ZH = ["", "", "", "谢谢", "，谢谢！", "，急！！", "，尽快处理", "？？"]
GREET_EN = ["", "", "Hi, ", "Hello! ", "hey ", "Hi there, ", "URGENT: "]
CLOSE_EN = ["", "", "", " thanks", ". Thank you!", " asap", "??", " pls help"]
TYPOS_ZH = {"在": "再", "的": "地", "吗": "嘛", "您": "你", "谢谢": "xiexie", "一直": "一只"}
SLOT = re.compile(r"\{(\w+)\}")


def noisy_value(text: str) -> str:
    """Full-width digits or a zero-width character inside a value, as customers paste them."""
    if R.random() < 0.08:
        text = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)
    if R.random() < 0.06 and len(text) > 2:
        at = R.randrange(1, len(text) - 1)
        text = text[:at] + R.choice(ZERO_WIDTH) + text[at:]
    return text


def typo(text: str, zh: bool) -> str:
    if zh:
        old = R.choice(list(TYPOS_ZH))
        return text.replace(old, TYPOS_ZH[old], 1)
    words = text.split(" ")
    i = R.randrange(len(words))
    word = words[i]
    if len(word) > 3 and word.isalpha():
        j = R.randrange(len(word) - 1)
        words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def message(zh: bool) -> dict[str, object]:
    template = R.choice(ZH if zh else EN)
    pieces: list[tuple[str, str | None]] = []
    names: list[str] = []
    at = 0
    for match in SLOT.finditer(template):
        pieces.append((template[at : match.start()], None))
        slot = match[1]
        if slot in ("staff", "staff_en"):
            value = zh_name() if slot == "staff" else en_name(2)
            names.append(value)
            pieces.append((value, "name"))
        else:
            make, label = SLOTS[slot]
            value = make()
            pieces.append((noisy_value(value) if label or R.random() < 0.3 else value, label))
        at = match.end()
    pieces.append((template[at:], None))
    greet, close = (GREET_ZH, CLOSE_ZH) if zh else (GREET_EN, CLOSE_EN)
    pieces = [(R.choice(greet), None), *pieces, (R.choice(close), None)]
    if R.random() < 0.2:
        pieces.append((R.choice(EMOJI) * R.choice([1, 1, 2]), None))
    text, spans = "", []
    for piece, label in pieces:
        if label is None and piece and R.random() < 0.06:
            piece = typo(piece, zh)
        if label is None and not zh and R.random() < 0.15:
            piece = piece.lower()
        if label:
            spans.append({"type": label, "start": len(text), "end": len(text) + len(piece)})
        text += piece
    if R.random() < 0.2:  # declared names that this message does not mention
        names.append(zh_name() if zh else en_name(2))
    return {"text": text, "spans": spans, "names": names}


def generate(n: int, seed: int) -> list[dict[str, object]]:
    R.seed(seed)
    return [message(zh=R.random() < 0.5) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with args.out.open("w", encoding="utf-8") as out:
        for line in generate(args.n, args.seed):
            out.write(json.dumps(line, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
