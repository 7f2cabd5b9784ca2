"""The smallest date/time expressions ("atoms") in Chinese and English, found by one regex.

`when.py` joins adjacent atoms (明天 + 下午三点, Friday + 8pm), ranges (A 到 B, A to B) and stays
(Friday + for 3 nights) and resolves them against the message time. Each atom kind is one named
alternative below; order matters only where two could start at the same character.
"""

from __future__ import annotations

import re

NUM_ZH = r"(?:[0-9]{1,2}|[零〇一二两三四五六七八九十]{1,3})"
_COUNT_ZH = r"(?:[0-9]{1,3}|[一二两三四五六七八九十半]{1,3})"
_COUNT_EN = (
    r"(?:[0-9]{1,3}|half an?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven"
    r"|twelve|fifteen|twenty|thirty|forty-five|forty|fifty|sixty)"
)
_UNIT_EN = r"(?:nights?|days?|hours?|hrs?|minutes?|mins?|weeks?|months?)"
_PERIOD_ZH = "凌晨|早上|早晨|清晨|上午|中午|午后|下午|傍晚|晚上|夜里|夜间|半夜|午夜"
_MONTHS = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"
)
_WEEKDAYS_EN = (
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|mon|tues|tue|weds|wed|thurs|thur|thu|fri|sat|sun)"
)

_ALTERNATIVES = {
    # 3天后, 两个小时以后, 半小时后, 一周前
    "rel_zh": rf"(?P<zr_n>{_COUNT_ZH})个?(?P<zr_u>小时|钟头|分钟|天|日|周|星期|礼拜|月)"
    r"(?P<zr_dir>以后|之后|后|以前|之前|前)",
    # in 2 hours, in half an hour
    "rel_en": rf"(?<![a-z])in\s(?P<er_n>{_COUNT_EN})\s(?P<er_u>{_UNIT_EN})(?![a-z])",
    # 2 hours later, 3 days ago
    "rel_en2": rf"(?<![a-z0-9])(?P<er2_n>{_COUNT_EN})\s(?P<er2_u>{_UNIT_EN})\s"
    r"(?P<er2_dir>later|from now|ago)(?![a-z])",
    "iso": r"(?<![0-9])(?P<iso_y>(?:19|20)[0-9]{2})(?P<iso_s>[-/.])(?P<iso_m>[0-9]{1,2})"
    r"(?P=iso_s)(?P<iso_d>[0-9]{1,2})(?![0-9])",
    # 2026年11月30日, 11月30号, 本月20号, 下个月5日
    "md_zh": r"(?:(?P<zm_y>(?:19|20)[0-9]{2})年|(?P<zm_yr>今年|明年|去年))?"
    rf"(?:(?P<zm_mr>本|这个?|下个?|上个?)月|(?P<zm_m>{NUM_ZH})月份?)"
    rf"(?P<zm_d>{NUM_ZH})(?:日|号)?",
    # Nov 30, November 30th 2026, 30 November
    "md_en": rf"(?<![a-z])(?P<em_mon>{_MONTHS})\.?\s(?P<em_d>[0-9]{{1,2}})(?:st|nd|rd|th)?"
    r"(?![0-9a-z:])(?:,?\s(?P<em_y>(?:19|20)[0-9]{2})(?![0-9]))?"
    rf"|(?<![0-9])(?P<em_d2>[0-9]{{1,2}})(?:st|nd|rd|th)?\s(?:of\s)?(?P<em_mon2>{_MONTHS})"
    r"(?![a-z])(?:,?\s(?P<em_y2>(?:19|20)[0-9]{2})(?![0-9]))?",
    # 11/30 (month first, as written in China and the US)
    "slash": r"(?<![0-9/.])(?P<sl_m>[0-9]{1,2})/(?P<sl_d>[0-9]{1,2})"
    r"(?:/(?P<sl_y>(?:19|20)[0-9]{2}))?(?![0-9/])",
    "rday_zh": r"(?P<zrd>大前天|前天|昨天|昨日|昨晚|今天|今日|今早|今晚|明天|明日|明早|明晚"
    r"|大后天|后天)",
    "rday_en": r"(?<![a-z])(?P<erd>the day after tomorrow|day after tomorrow"
    r"|the day before yesterday|today|tonight|tomorrow|tmrw|tmr|yesterday)(?![a-z])",
    "weekday_zh": r"(?P<zw_p>下下|下|上|这|本)?个?(?:周|星期|礼拜)(?P<zw_d>[一二三四五六日天1-7])",
    "weekend_zh": r"(?P<zwe_p>下下|下|上|这|本)?个?周末",
    "weekend_en": r"(?<![a-z])(?:(?P<ewe_p>this|next|last)\s)?weekend(?![a-z])",
    "weekday_en": r"(?<![a-z])(?:(?P<ew_p>this coming|this|next|last|coming)\s)?"
    rf"(?P<ew_d>{_WEEKDAYS_EN})(?![a-z])",
    # 3pm, 3:30 p.m., noon, 8 in the evening, at 3, 3 o'clock
    "time_en": r"(?<![0-9:])(?P<et_h>[0-9]{1,2})(?::(?P<et_m>[0-9]{2}))?\s?"
    r"(?P<et_ap>a\.?m\.?|p\.?m\.?)(?![a-z])"
    r"|(?<![a-z])(?P<et_n>noon|midday|midnight)(?![a-z])"
    r"|(?<![0-9:])(?P<et_ev>[0-9]{1,2})(?::(?P<et_evm>[0-9]{2}))?\sin\sthe\s"
    r"(?P<et_evp>morning|afternoon|evening)(?![a-z])"
    r"|(?<![0-9:])(?P<et_oc>[0-9]{1,2})\s?o'?clock(?![a-z])"
    r"|(?<=at\s)(?P<et_at>[0-9]{1,2})(?![0-9:.a-z])",
    # 下午三点, 晚上八点半, 三点一刻, 早上7:30, 15:00
    "time_zh": rf"(?P<zt_p>{_PERIOD_ZH}|晚)?(?:(?P<zt_h>{NUM_ZH})(?:点钟|点|时)"
    r"(?:(?P<zt_half>半)|(?P<zt_q>一刻|三刻)|(?P<zt_m>[0-9]{1,2}|[零〇一二三四五六七八九十]{1,3})分"
    r"|(?P<zt_m2>[0-9]{2}|[一二三四五]十[一二三四五六七八九]?|零[一二三四五六七八九]"
    r"|十[一二三四五六七八九]?)|(?P<zt_exact>整))?"
    r"|(?<![0-9:.])(?P<zt_hh>[0-9]{1,2}):(?P<zt_mm>[0-9]{2})(?![0-9:]))",
    "period_zh": rf"(?P<zp>{_PERIOD_ZH})",
    "period_en": r"(?<![a-z])(?P<ep>morning|afternoon|evening|night)(?![a-z])",
    # 两晚, 3天, 两个小时, 半天
    "dur_zh": rf"(?P<zu_n>{_COUNT_ZH})\s?(?P<zu_g>个)?"
    r"(?P<zu_u>晚上|晚|夜|天|小时|钟头|分钟|星期|礼拜|周|月)",
    "dur_en": rf"(?<![a-z0-9])(?P<ed_n>{_COUNT_EN})\s(?P<ed_u>{_UNIT_EN})(?![a-z])",
    # 20号 (not 3号线, 2号口, 5号楼: lines, exits and buildings)
    "day_zh": rf"(?<![0-9])(?P<zd_d>{NUM_ZH})(?:号|日)(?![线口楼门床房车位桩柱机码台])",
}

ATOM = re.compile("|".join(f"(?P<k_{name}>{body})" for name, body in _ALTERNATIVES.items()))
ATOM_KINDS = tuple(_ALTERNATIVES)
# Where an atom may start. Precise on purpose: the alternation costs ~5-10 µs per attempt, so
# "这是一个..." must not try it at 这, 个 or every English word.
_TRIGGER_ZH_WORDS = (
    "今[天日早晚年]|明[天日早晚年]|后天|昨[天日晚]|前天|大[前后]天|去年|(?:下下|下|上|这|本)个?(?:周|星期|礼拜|月)"
    "|周|星期|礼拜|凌晨|早[上晨]|清晨|上午|中午|午[后夜]|下午|傍晚|晚上?|夜[里间]|半夜"
)
_TRIGGER_EN_WORDS = (
    "in|the|day|today|tonight|tomorrow|tmrw?|yesterday|this|next|last|coming|mon|tue|wed|thu|fri"
    "|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|noon|midday|midnight|morning"
    "|afternoon|evening|night|weekend|half|one|two|three|four|five|six|seven|eight|nine|ten"
    "|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|an?(?= (?:night|hour|week))"
)
TRIGGER = re.compile(
    rf"[0-9]+|[零〇一二两三四五六七八九十半]+(?=[点时月号日天晚夜小钟分周星礼]|个[小月晚星礼周钟])"
    rf"|{_TRIGGER_ZH_WORDS}|(?:{_TRIGGER_EN_WORDS})"
)

# Hours in each part of the day, for "明天下午" / "tomorrow evening" with no clock time.
PERIOD_BOUNDS: dict[str, tuple[int, int]] = {
    "凌晨": (0, 6),
    "半夜": (0, 6),
    "早上": (6, 9),
    "早晨": (6, 9),
    "清晨": (6, 9),
    "上午": (8, 12),
    "午后": (12, 18),
    "下午": (12, 18),
    "傍晚": (17, 19),
    "晚上": (18, 24),
    "夜里": (18, 24),
    "夜间": (18, 24),
    "晚": (18, 24),
    "morning": (6, 12),
    "afternoon": (12, 18),
    "evening": (18, 24),
    "night": (18, 24),
}
PM_PERIODS = frozenset(
    ("下午", "午后", "傍晚", "晚上", "夜里", "夜间", "晚", "pm", "afternoon", "evening", "night")
)
AM_PERIODS = frozenset(("凌晨", "半夜", "早上", "早晨", "清晨", "上午", "am", "morning"))
NOON_PERIODS = frozenset(("中午",))

EN_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "forty-five": 45,
    "fifty": 50,
    "sixty": 60,
}
EN_MONTHS = {
    name: index
    for index, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        1,
    )
    for name in names
}
EN_WEEKDAYS = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
ZH_WEEKDAYS = (
    {ch: index for index, ch in enumerate("一二三四五六日")}
    | {"天": 6}
    | {str(n): n - 1 for n in range(1, 8)}
)
# Time units, for durations and "in N units": (unit name, days, hours, minutes).
UNITS: dict[str, str] = {
    "晚上": "night",
    "晚": "night",
    "夜": "night",
    "night": "night",
    "天": "day",
    "日": "day",
    "day": "day",
    "小时": "hour",
    "钟头": "hour",
    "hour": "hour",
    "hr": "hour",
    "分钟": "minute",
    "minute": "minute",
    "min": "minute",
    "周": "week",
    "星期": "week",
    "礼拜": "week",
    "week": "week",
    "月": "month",
    "month": "month",
}
