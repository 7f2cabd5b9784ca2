import pytest

from kefu.dialogue import context as ctx


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("第二个", 2),
        ("第2次", 2),
        ("第三笔", 3),
        ("最后一个", -1),
        ("最近一次", 1),
        ("刚才那辆", 1),
        ("the second one", 2),
        ("the 3rd", 3),
        ("number 2", 2),
        ("the last one", -1),
        ("2", 2),
        ("我的车坏了", None),
        ("B123456", None),
    ],
)
def test_ordinals(text: str, position: int | None) -> None:
    assert ctx.ordinal(text) == position


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("那押金呢?", "押金"),
        ("那押金呢", "押金"),
        ("押金呢？", "押金"),
        ("what about the deposit?", "the deposit"),
        ("and the deposit?", "the deposit"),
        ("押金怎么退", None),
        ("how do i get my deposit back", None),
    ],
)
def test_follow_ups(text: str, subject: str | None) -> None:
    assert ctx.follow_up(text) == subject


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("是的", True),
        ("对", True),
        ("好的", True),
        ("能开了", True),
        ("yes", True),
        ("yes please", True),
        ("ok", True),
        ("不是", False),
        ("不对", False),
        ("还是打不开", False),
        ("no", False),
        ("nope, still locked", False),
        ("我想问一下押金", None),
        ("B123456", None),
    ],
)
def test_yes_no(text: str, answer: bool | None) -> None:
    assert ctx.yes_no(text) is answer


def test_cancel_is_the_whole_message_not_a_word_in_it() -> None:
    assert ctx.whole("cancel", "算了")
    assert ctx.whole("cancel", "算了吧")
    assert ctx.whole("cancel", "cancel")
    assert ctx.whole("cancel", "never mind!")
    assert not ctx.whole("cancel", "取消订单")  # that's a request to cancel a booking
    assert not ctx.whole("cancel", "cancel my booking")


def test_safety_and_human_words() -> None:
    assert ctx.mentions("safety", "我被车撞了，腿在流血")
    assert ctx.mentions("safety", "i had an accident")
    assert not ctx.mentions("safety", "车号 b110234 扣费1200")  # numbers are not 110/120 calls
    assert not ctx.mentions("safety", "the app crashed")  # a crashed app is no emergency
    assert not ctx.mentions("safety", "can i smoke in the flat")
    assert not ctx.mentions("safety", "车锁一直在报警")
    assert ctx.mentions("human", "我要投诉，转人工")
    assert ctx.mentions("human", "can i talk to a human")


def test_corrections() -> None:
    assert ctx.is_correction("不是b123456，是b128000")
    assert ctx.is_correction("sorry, i meant b128000")
    assert not ctx.is_correction("b128000")
