"""What the traffic simulator's customers and agent say (kefu.analytics.simulate).

The FAQ questions come from the bundled packs (question and similar texts); the rest is written
here. Flow scripts were checked against the bundled flows and the demo operator (see the skill
packs' stories.yaml); the planted gap topics were checked to fall back (or clarify) with the
bundled packs and the trained intent model: none is answered by a FAQ entry.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

# Conversations by local hour: quiet nights, commute peaks at 8 and 18, a lunch bump.
HOUR_WEIGHTS = (1, 0.6, 0.4, 0.3, 0.3, 0.8, 3, 9, 11, 7, 5, 5, 6, 5, 4, 5, 6, 9, 11, 8, 6, 5, 3, 2)
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.05, 0.8, 0.75)  # Monday first
CHANNELS = (("web", 0.5), ("widget", 0.3), ("app", 0.2))
LANGUAGES = (("zh", 0.7), ("en", 0.3))
SKILLS = (("bike", 0.55), ("lodging", 0.35), ("common", 0.10))
SKILLS_OF_SERVICE = ("bike", "lodging")  # a conversation's skill when it touched one

# Things a customer says that aren't questions.
THANKS = {
    "zh": ["谢谢", "好的，谢谢", "明白了，多谢", "OK 谢谢啦"],
    "en": ["thanks", "great, thank you", "ok thanks", "got it, thanks!"],
}
GREETINGS = {"zh": ["你好", "在吗", "您好"], "en": ["hi", "hello", "hey there"]}
HUMAN = {
    "zh": ["转人工", "我要人工客服", "找个真人跟我说", "人工服务"],
    "en": [
        "I want to talk to a human",
        "human agent please",
        "let me speak to a person",
        "connect me to customer service staff",
    ],
}
WAITING = {"zh": ["还要等多久", "有人吗？"], "en": ["how long do I have to wait?", "anyone there?"]}
DETAIL = {
    "zh": [
        "订单号在App里能看到，麻烦帮我处理一下",
        "昨天晚上的事，扣了我两次钱",
        "已经第三次了，希望尽快解决",
    ],
    "en": [
        "the order is in my app history, please sort it out",
        "it happened last night, I was charged twice",
        "this is the third time, please fix it quickly",
    ],
}

# Angry customers: sustained anger makes the bot hand over (two angry turns in a row).
ANGRY = {
    "zh": [
        ["你们太垃圾了，气死我了！", "扣了我三次钱，骗子公司！", "我要投诉！"],
        ["什么破车，根本骑不了，气死了！", "你们到底管不管？太过分了！"],
        ["房东联系不上，太离谱了！", "简直是骗子，气死我了，退钱！"],
    ],
    "en": [
        [
            "this is ridiculous, your app is garbage!",
            "I'm furious, you charged me twice!",
            "worst service ever",
        ],
        ["your bike is junk and I'm so angry right now!", "this is outrageous, fix it now!"],
        ["the host never answers, this is a scam!", "I'm furious, give me my money back!"],
    ],
}

AGENT_REPLIES = {
    "zh": [
        "您好，我是客服小李，很抱歉给您带来不便。",
        "我这边已经帮您查到了，正在处理。",
        "已经为您提交退款，1–3个工作日到账。",
        "还有其他可以帮您的吗？",
    ],
    "en": [
        "Hi, this is Li from customer service, sorry for the trouble.",
        "I've found your records and I'm looking into it.",
        "I've submitted the refund; it arrives in 1–3 business days.",
        "Is there anything else I can help with?",
    ],
}
RATING_COMMENTS = {
    "zh": {1: "没解决问题", 2: "太慢了", 3: None, 4: "还行", 5: "很满意，谢谢"},
    "en": {1: "didn't solve anything", 2: "too slow", 3: None, 4: "fine", 5: "great help, thanks"},
}

# Flows: a script per (skill, language); `done` completes the flow with an anonymous (or any)
# customer, and an abandoned one stops after the first `cut` messages.
FLOWS: dict[str, dict[str, list[list[str]]]] = {
    "bike": {
        "zh": [
            ["B123456 刹车坏了", "在国贸", "对"],
            ["我要报修", "B654321", "链条掉了", "在三里屯", "是的"],
            ["附近有车吗", "国贸"],
            ["附近有车吗", "五道口"],
            ["推荐我骑什么车"],
        ],
        "en": [
            ["I want to report a damaged bike", "E20931", "the battery", "Sanlitun", "yes"],
            ["where can I find a bike near Wudaokou"],
            ["any bikes nearby?", "Guomao"],
            ["which bike type should I pick? I need to take my kid to school"],
        ],
    },
    "lodging": {
        "zh": [["门锁密码是多少"], ["我要取消订单"], ["怎么自助入住"]],
        "en": [
            ["how do I check in"],
            ["the door code doesn't work"],
            ["I need to cancel my booking"],
        ],
    },
}
CANCEL = {"zh": ["算了", "不用了"], "en": ["never mind", "cancel"]}

# The planted knowledge gaps: questions none of the bundled packs answers (each was checked
# to fall back or ask to clarify). Topic -> paraphrases, zh and en mixed.
GAP_TOPICS: dict[str, list[str]] = {
    "carbon_credits": [
        "骑行能攒碳积分吗",
        "骑车的减排量能换成碳积分吗",
        "我的绿色能量在哪里看",
        "骑行碳减排证书怎么领取",
        "骑车攒的碳积分能兑换什么",
        "碳积分怎么查",
        "低碳出行积分在哪领",
        "碳账户是什么",
        "do I earn carbon credits for riding",
        "how do carbon credits work for bike rides",
        "do riders get carbon points",
        "carbon credit for my cycling",
    ],
    "bike_advertising": [
        "我想在你们的单车上投放广告",
        "车身广告怎么合作",
        "你们接受商家在车筐上打广告吗",
        "单车车身广告位怎么买",
        "我们公司想在车座上印广告",
        "你们的车筐广告招商吗",
        "I want to put my brand logo on your scooters",
        "can we buy advertising on the bike fenders",
        "advertising partnership inquiry",
        "I want to put my brand logo on your bikes",
    ],
    "jobs": [
        "兼职挪车的工作怎么申请",
        "你们还缺单车运维吗",
        "换电工是怎么招聘的",
        "投简历发到哪里",
        "are you hiring bike maintenance staff",
        "how do I apply for a job as a scooter charger",
        "job openings for bike mechanics",
        "where do I send my CV",
    ],
    "sponsorship": [
        "学校社团活动想找你们赞助",
        "可以给马拉松提供单车吗",
        "我们办公益骑行活动能不能赞助一下",
        "骑行俱乐部想申请赞助",
        "公司年会想请你们赞助单车",
        "能不能给我们的校园活动提供赞助",
        "你们有品牌赞助计划吗",
        "can your company sponsor a charity ride",
        "do you donate bikes for community events",
        "how can I get sponsorship from your company",
        "our school event needs a sponsor, can you help",
    ],
    "photo_shoot": [
        "想在民宿拍婚纱照可以吗",
        "租房子拍视频需要额外收费吗",
        "民宿可以用来拍写真吗",
        "在房源里拍短视频允许吗",
        "can we do a photo shoot at the listing",
        "may we film a music video in the apartment",
        "is commercial photography allowed at the property",
        "能租房子拍广告片吗",
    ],
    "airport_pickup": [
        "民宿提供接机服务吗",
        "能安排机场接送吗",
        "有没有机场到民宿的专车接送",
        "能不能派车到机场接我们",
        "接机要另外付费吗",
        "do you offer airport pickup",
        "we need a ride from the airport when we land",
    ],
}

# The planted hot topic: unlock failures at one station, one morning hour of the last day.
SPIKE_PLACE = "国贸站"
SPIKE_HOUR = 8
SPIKE_TEXTS = {
    "zh": [
        "国贸站扫码开不了锁",
        "在国贸站车子扫了打不开",
        "国贸站这边的车都开不了锁",
        "国贸站开锁失败",
        "国贸站扫码没反应，开不了锁",
    ],
    "en": [
        "bike won't unlock at Guomao station",
        "can't unlock any bike at Guomao",
        "unlock failed at Guomao station",
    ],
}
# The same complaint elsewhere, spread over the whole period: the spike's usual level.
UNLOCK_PLACES = {
    "zh": ["五道口", "三里屯", "中关村", "望京", "西单"],
    "en": ["Wudaokou", "Sanlitun", "Zhongguancun", "Wangjing", "Xidan"],
}
UNLOCK_TEXTS = {"zh": "{place}扫码开不了锁", "en": "bike won't unlock at {place}"}

# FAQ entries the simulator doesn't ask as plain questions (they hand over or start flows).
_SKIP_FAQ = {"common.human_agent", "common.complaint"}


@cache
def faq_questions() -> dict[tuple[str, str], tuple[str, ...]]:
    """(skill, language) -> every question and similar question of the bundled packs."""
    found: dict[tuple[str, str], list[str]] = {}
    for pack in ("bike", "lodging", "common"):
        text = resources.files("kefu.skills").joinpath(pack, "faq.yaml").read_text("utf-8")
        data: dict[str, Any] = yaml.safe_load(text)
        for entry in data["entries"]:
            if entry["id"] in _SKIP_FAQ:
                continue
            for lang in ("zh", "en"):
                texts = [entry["question"].get(lang), *entry.get("similar", {}).get(lang, [])]
                found.setdefault((pack, lang), []).extend(t for t in texts if t)
    return {key: tuple(texts) for key, texts in found.items()}
