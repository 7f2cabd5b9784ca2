"""The analytics dashboard (/analytics) in a real headless chromium against a real `kefu serve`
whose database the traffic simulator filled (a few hundred conversations through the real
pipeline, then the rollups refreshed): the key numbers equal the API's and the simulator's, the
charts draw (vendored Chart.js under the strict policy, no console errors), a filter change
updates the numbers and the address, a bar drills down to its conversations and a transcript,
every CSV downloads with its header row, a knowledge gap becomes a draft in the admin console's
editor, zh and en, a phone, and accounts without analytics:read are refused. Screenshots go to
$KEFU_ARTIFACTS/screenshots/analytics-*.png (default ./artifacts).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

import kefu.web
from kefu.analytics.refresh import refresh
from kefu.analytics.simulate import Ledger, simulate
from kefu.config import Settings
from kefu.i18n import catalog
from kefu.runtime import Runtime, prepare_database
from kefu.testing import Server
from kefu.web import routes
from kefu.web.routes import analytics_strings
from tests.web.test_admin_console import DESKTOP, PASSWORD, PHONE, Watch
from tests.web.test_chat_live import shots
from tests.web.test_chat_page import browser  # noqa: F401 - the shared chromium fixture

CONVERSATIONS = 300
DAYS = 14
SEED = 8
STATIC = Path(kefu.web.__file__).resolve().parent / "static"
ROOT = Path(__file__).resolve().parents[2]
CHARTS = ("volume-day", "volume-hour", "trend-rates", "trend-mood", "handoffs", "satisfaction",
          "intents", "faq", "flows")  # fmt: skip
FAILED = catalog("en")["analytics.csv_failed"].split("{")[0]  # "The download failed: "
pytestmark = pytest.mark.timeout(240)


class Seeded:
    def __init__(self, server: Server, ledger: Ledger) -> None:
        self.server = server
        self.ledger = ledger


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, trained_models: Path) -> Iterator[Seeded]:
    base = tmp_path_factory.mktemp("analytics")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=base / "var",
        database_url=None,
        models_dir=trained_models,
        redis_url=None,
        secret_key=None,
    )
    prepare_database(settings)
    runtime = Runtime.build(settings)
    try:
        ledger = simulate(runtime, CONVERSATIONS, DAYS, SEED)
        refresh(runtime.engine, runtime.tenant.id, ZoneInfo(settings.timezone))
    finally:
        runtime.close()
    # No scheduled refresh: the numbers stay exactly what the simulator wrote.
    srv = Server(
        base / "var", KEFU_MODELS_DIR=str(trained_models), KEFU_ANALYTICS_REFRESH_SECONDS="0"
    )
    srv.start(timeout=60)
    for username, role in (("boss", "admin"), ("lin", "analyst"), ("wang", "agent")):
        made = srv.cli(
            "accounts", "create", username, "--role", role, "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    yield Seeded(srv, ledger)
    srv.stop()


def open_dashboard(
    browser: Browser,  # noqa: F811
    server: Server,
    username: str,
    *,
    lang: str = "en",
    query: str = "",
    viewport: ViewportSize = DESKTOP,
) -> tuple[Page, Watch]:
    ctx = browser.new_context(
        locale="zh-CN" if lang == "zh" else "en-US", viewport=viewport, accept_downloads=True
    )
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    watch = Watch(page)
    page.goto(f"{server.url}/analytics?lang={lang}{query}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#signout")).to_be_visible()
    return page, watch


def loaded(page: Page) -> None:
    """Every request of the last load answered and the charts finished drawing."""
    expect(page.locator("#main")).to_have_attribute("aria-busy", "false")
    page.wait_for_function(
        """(names) => names.every((n) => {
            const canvas = document.getElementById(`c-${n}-canvas`);
            const chart = Chart.getChart(canvas);
            return chart && !Chart.animator.running(chart);
        })""",
        arg=["volume-day", "volume-hour", "handoffs", "intents"],
    )


def api(page: Page, path: str) -> Any:
    """The API with the page's own session, as a BI tool with a cookie would see it."""
    res = page.request.get(page.url.split("/analytics")[0] + path)
    assert res.status == 200, res.text()
    return res.json()


def tile(page: Page, metric: str) -> tuple[str, str]:
    node = page.locator(f'#kpi-tiles li[data-metric="{metric}"]')
    return node.get_attribute("data-value") or "", node.locator(".value").inner_text()


def painted(page: Page, name: str) -> int:
    """How many of a chart canvas's pixels are drawn on."""
    count: int = page.evaluate(
        """(id) => {
            const c = document.getElementById(id);
            const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
            return n;
        }""",
        f"c-{name}-canvas",
    )
    return count


def test_the_scripts_strings_exist_in_both_languages() -> None:
    used: set[str] = set()
    for script in STATIC.glob("analytics*.js"):
        used |= set(re.findall(r"\bT\.([a-z0-9_]+)", script.read_text(encoding="utf-8")))
    assert len(used) > 60
    for lang in ("zh", "en"):
        assert sorted(used - analytics_strings(lang).keys()) == [], lang
    zh, en = ({k for k in catalog(lang) if k.startswith("analytics.")} for lang in ("zh", "en"))
    assert zh == en
    names = {k.removeprefix("analytics.").replace(".", "_") for k in en}
    shared = {k.replace(".", "_") for k in routes._ANALYTICS_SHARED} | {"rejected"}
    assert names & shared == set()


def test_the_page_and_the_vendored_chart_library_are_served_under_a_strict_policy(
    seeded: Seeded,
) -> None:
    url = seeded.server.url
    page = httpx.get(f"{url}/analytics?lang=zh", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == routes.CONSOLE_CSP
    assert "'unsafe-inline'" not in routes.CONSOLE_CSP and "cdn" not in page.text.lower()
    assert '<html lang="zh-CN">' in page.text
    for name in routes._ANALYTICS_ASSETS:
        asset = httpx.get(f"{url}/analytics/{name}", timeout=10)
        assert asset.status_code == 200, name
        assert asset.content == (STATIC / name).read_bytes()
    assert {p.name for p in STATIC.glob("analytics*")} == {
        n for n in routes._ANALYTICS_ASSETS if "/" not in n
    }
    for bad in ("routes.py", "vendor/VERSION", "../routes.py", "vendor/chart.js-LICENSE.md"):
        assert httpx.get(f"{url}/analytics/{bad}", timeout=10).status_code == 404, bad
    # The vendored file is Chart.js as published, with its licence and a note of where from.
    vendor = STATIC / "vendor"
    digest = hashlib.sha256((vendor / "chart.umd.min.js").read_bytes()).hexdigest()
    assert digest in (vendor / "VERSION").read_text(encoding="utf-8")
    assert "MIT License" in (vendor / "chart.js-LICENSE.md").read_text(encoding="utf-8")
    assert '"web/static/vendor/*"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def intl(value: float, places: int, percent: bool = False) -> str:
    """`value` as the page's Intl.NumberFormat writes it: rounded half away from zero on its
    shortest decimal form (3.235 -> 3.24), where Python's format rounds the binary value
    (3.2349999... -> 3.23)."""
    number = Decimal(repr(value)) * (100 if percent else 1)
    return str(number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def test_the_dashboard_shows_the_simulated_numbers_and_draws_every_chart(
    browser: Browser,  # noqa: F811
    seeded: Seeded,
) -> None:
    page, watch = open_dashboard(browser, seeded.server, "boss")
    loaded(page)
    summary = api(page, "/v1/analytics/summary")
    totals = seeded.ledger.totals()
    assert summary["conversations"] == totals["conversations"] == CONVERSATIONS
    assert summary["messages"] == totals["messages"]
    expected = {
        "conversations": summary["conversations"],
        "messages": summary["messages"],
        "automated_resolution_rate": summary["automated_resolution_rate"],
        "first_contact_resolution_rate": summary["first_contact_resolution_rate"],
        "handoff_rate": summary["handoff_rate"],
        "fallback_rate": summary["fallback_rate"],
        "clarification_rate": summary["clarification_rate"],
        "bot_first_response_ms": summary["bot_first_response_ms"]["p50"],
        "handle_ms": summary["handle_ms"]["p50"],
        "satisfaction": summary["satisfaction"]["average"],
        "sentiment": summary["sentiment"]["average"],
    }
    for metric, value in expected.items():
        raw, text = tile(page, metric)
        assert value is not None, metric
        assert float(raw) == value, metric
        assert text not in ("", "–"), metric
    assert tile(page, "conversations")[1] == f"{CONVERSATIONS:,}"
    assert tile(page, "messages")[1] == f"{totals['messages']:,}"
    assert tile(page, "handoff_rate")[1] == f"{intl(summary['handoff_rate'], 1, percent=True)}%"
    assert tile(page, "satisfaction")[1] == f"{intl(summary['satisfaction']['average'], 2)} / 5"
    # Every chart drew on its canvas and says in words what it shows.
    for name in CHARTS:
        assert page.evaluate(f"Boolean(Chart.getChart('c-{name}-canvas'))"), name
        assert painted(page, name) > 500, name
        label = page.locator(f"#c-{name}-canvas").get_attribute("aria-label") or ""
        assert label.startswith(page.locator(f"#c-{name}-h").inner_text()), name
    # The steps card opens on the flow customers leave most.
    flows = api(page, "/v1/analytics/flows")["rows"]
    worst = max(flows, key=lambda r: r["dropped"])
    assert worst["dropped"] > 0
    expect(page.locator("#c-steps-h")).to_contain_text(worst["flow"])
    page.wait_for_function("Boolean(Chart.getChart('c-steps-canvas'))")
    # The table alternative holds the same numbers as the chart.
    page.click("#c-volume-day summary")
    volume = api(page, "/v1/analytics/volume?by=day")["rows"]
    rows = page.locator("#c-volume-day tbody tr")
    expect(rows).to_have_count(len(volume))
    busiest = max(volume, key=lambda r: r["conversations"])
    row = rows.filter(has_text=busiest["bucket"])
    expect(row.locator("td").nth(1)).to_have_text(str(busiest["conversations"]))
    expect(page.locator("#status")).to_contain_text("Asia/Shanghai")
    hot = api(page, "/v1/analytics/hot-topics")["rows"]
    expect(page.locator("#hot tbody tr")).to_have_count(max(1, len(hot)))  # or "nothing unusual"
    page.screenshot(path=str(shots() / "analytics-en.png"), full_page=True)
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()


def test_a_filter_changes_the_numbers_and_the_address_shares_it(
    browser: Browser,  # noqa: F811
    seeded: Seeded,
) -> None:
    page, watch = open_dashboard(browser, seeded.server, "boss")
    loaded(page)
    everyone = tile(page, "conversations")[0]
    page.select_option("#f-language", "zh")
    page.click("#filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"[?&]language=zh"))
    # The conversations' stored language, which a customer's own words may have set (not
    # always the language the simulator started them in).
    zh = api(page, "/v1/analytics/summary?language=zh")["conversations"]
    assert 0 < zh < CONVERSATIONS
    expect(page.locator('#kpi-tiles li[data-metric="conversations"]')).to_have_attribute(
        "data-value", str(zh)
    )
    loaded(page)
    since = page.input_value("#f-since")
    summary = api(page, f"/v1/analytics/summary?language=zh&since={since}")
    assert summary["conversations"] == zh != int(everyone)
    assert float(tile(page, "handoff_rate")[0]) == summary["handoff_rate"]
    # The address is the view: opened in another tab (a bookmark, a colleague), same filters.
    other = page.context.new_page()
    other.goto(page.url)
    expect(other.locator("#f-language")).to_have_value("zh")
    expect(other.locator('#kpi-tiles li[data-metric="conversations"]')).to_have_attribute(
        "data-value", str(zh)
    )
    # The other language keeps the filters too.
    assert "language=zh" in (other.get_attribute("#lang-link", "href") or "")
    other.close()
    # Back: the filters before, and their numbers.
    page.go_back()
    expect(page.locator("#f-language")).to_have_value("")
    expect(page.locator('#kpi-tiles li[data-metric="conversations"]')).to_have_attribute(
        "data-value", everyone
    )
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()


def test_a_bar_drills_down_to_its_conversations_and_a_transcript(
    browser: Browser,  # noqa: F811
    seeded: Seeded,
) -> None:
    page, watch = open_dashboard(browser, seeded.server, "boss")
    loaded(page)
    bar = page.evaluate(
        """() => {
            const chart = Chart.getChart("c-volume-day-canvas");
            const values = chart.data.datasets[0].data;
            const i = values.indexOf(Math.max(...values));
            const el = chart.getDatasetMeta(0).data[i];
            return { x: el.x, y: (el.y + el.base) / 2, day: chart.data.labels[i], n: values[i] };
        }"""
    )
    page.locator("#c-volume-day-canvas").click(position={"x": bar["x"], "y": bar["y"]})
    dialog = page.locator("#drill")
    expect(dialog).to_be_visible()
    expect(page.locator("#drill-h")).to_contain_text(bar["day"])
    expect(page.locator("#drill-h")).to_be_focused()
    listed = api(page, f"/v1/analytics/conversations?day={bar['day']}&limit=50")
    assert listed["total"] == bar["n"]
    expect(page.locator("#drill-rows tr")).to_have_count(min(bar["n"], 50))
    expect(page.locator("#drill-count")).to_contain_text(str(bar["n"]))
    # Times are shown in the deployment's zone (the browser here runs in UTC): the day listed
    # is the day of the bar.
    year, month, day = bar["day"].split("-")
    for started in page.locator("#drill-rows tr td:nth-child(2)").all_inner_texts():
        assert started.startswith(f"{month}/{day}/{year}"), started
    first = listed["rows"][0]["id"]
    page.click(f'#drill-rows button[data-conversation="{first}"]')
    expect(page.locator("#transcript")).to_be_visible()
    expect(page.locator("#transcript-messages li").first).to_be_visible()
    expect(page.locator("#transcript-note")).to_contain_text("masked")
    page.screenshot(path=str(shots() / "analytics-drill-en.png"))
    # The drill-down's CSV: the same conversations, with the header row.
    with page.expect_download() as download:
        page.click("#drill-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == ",".join(listed["columns"])
    assert len(text.splitlines()) == bar["n"] + 1
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # The keyboard reaches the same lists: the chart's table, a "List" button, Enter.
    page.click("#c-handoffs summary")
    reasons = api(page, "/v1/analytics/handoff-reasons")["rows"]
    button = page.locator("#c-handoffs tbody button").first
    button.focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    listed = api(page, f"/v1/analytics/conversations?reason={reasons[0]['reason']}")
    assert listed["total"] == reasons[0]["conversations"]
    expect(page.locator("#drill-rows tr")).to_have_count(min(listed["total"], 50))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()


def test_every_chart_and_table_downloads_as_csv(
    browser: Browser,  # noqa: F811
    seeded: Seeded,
) -> None:
    page, watch = open_dashboard(browser, seeded.server, "boss")
    loaded(page)
    headers = {
        "summary": "metric,value",
        "volume-day": "bucket,conversations,messages",
        "volume-hour": "bucket,conversations,messages",
        "trend-rates": "day,conversations,automated_resolution_rate,handoff_rate",
        "handoffs": "reason,conversations,share",
        "satisfaction": "score,conversations,share",
        "intents": "key,turns,conversations,share",
        "faq": "key,turns,conversations,share",
        "flows": "flow,started,completed,completion_rate,dropped,top_drop_step",
        "steps": "step,dropped,share",
        "gaps": "id,label,size,conversations",
        "hot": "kind,value,intent,day,hour,count,expected,ratio",
    }
    for name, header in headers.items():
        # Chromium drops a page's 11th download in a burst of seconds: a person's pace instead.
        page.wait_for_timeout(1000)
        with page.expect_download() as download:
            page.click(f'button.csv[data-chart="{name}"]')
            expect(page.locator("#load-error")).not_to_contain_text(FAILED)
        assert download.value.failure() is None, name
        assert download.value.suggested_filename.endswith(".csv"), name
        raw = Path(download.value.path()).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), name  # a BOM: Excel reads the Chinese
        assert raw.decode("utf-8-sig").splitlines()[0].startswith(header), name
    expect(page.locator("#announce")).to_contain_text(".csv")
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()


def test_a_knowledge_gap_becomes_a_draft_in_the_admin_editor_unsaved(
    browser: Browser,  # noqa: F811
    seeded: Seeded,
) -> None:
    page, watch = open_dashboard(browser, seeded.server, "boss")
    loaded(page)
    gaps = api(page, "/v1/analytics/gaps")["rows"]
    assert gaps, "the simulator plants unanswerable questions"
    draft = gaps[0]["draft"]
    expect(page.locator("#gaps tbody tr")).to_have_count(len(gaps))
    page.screenshot(path=str(shots() / "analytics-gaps-en.png"), full_page=True)
    page.locator("#gaps tbody tr").first.get_by_role("button", name=re.compile("Draft")).click()
    expect(page).to_have_url(re.compile(r"/admin\?lang=en#knowledge$"))
    expect(page.locator("#kb-edit-view")).to_be_visible()
    expect(page.locator("#kb-id")).to_have_value(draft["id"])
    expect(page.locator("#kb-q-zh")).to_have_value(draft["question"]["zh"])
    expect(page.locator("#kb-q-en")).to_have_value(draft["question"]["en"])
    expect(page.locator("#kb-sim-en")).to_have_value("\n".join(draft["similar"]["en"]))
    expect(page.locator("#kb-enabled")).not_to_be_checked()
    page.screenshot(path=str(shots() / "analytics-draft-in-admin-en.png"), full_page=True)
    # Nothing is saved until the admin publishes it, and the draft is used once.
    res = page.request.get(f"{seeded.server.url}/v1/admin/knowledge/{draft['id']}")
    assert res.status == 404
    page.reload()
    expect(page.locator("#kb-list-view")).to_be_visible()
    expect(page.locator("#analytics-link")).to_be_visible()
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()


def test_chinese_and_a_phone(
    browser: Browser,  # noqa: F811
    seeded: Seeded,
) -> None:
    zh = catalog("zh")
    page, watch = open_dashboard(browser, seeded.server, "boss", lang="zh")
    loaded(page)
    expect(page.locator("h1")).to_have_text(zh["analytics.title"])
    expect(page.locator('#kpi-tiles li[data-metric="conversations"] .label')).to_have_text(
        zh["analytics.kpi.conversations"]
    )
    expect(page.locator("#c-volume-day-h")).to_have_text(zh["analytics.chart.volume_day"])
    label = page.locator("#c-volume-hour-canvas").get_attribute("aria-label") or ""
    assert label.startswith(zh["analytics.chart.volume_hour"]) and "最高" in label
    page.screenshot(path=str(shots() / "analytics-zh.png"), full_page=True)
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()

    phone, watch = open_dashboard(browser, seeded.server, "boss", lang="zh", viewport=PHONE)
    loaded(phone)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width  # only tables scroll sideways, not the page
    box = phone.locator("#c-volume-day-canvas").bounding_box()
    assert box and 0 < box["width"] <= PHONE["width"]
    phone.screenshot(path=str(shots() / "analytics-phone-zh.png"), full_page=True)
    assert watch.errors == []
    assert watch.failed == []
    phone.context.close()


def test_an_analyst_reads_and_an_agent_is_refused(
    browser: Browser,  # noqa: F811
    seeded: Seeded,
) -> None:
    page, watch = open_dashboard(browser, seeded.server, "lin")
    loaded(page)
    expect(page.locator("#not-allowed")).to_be_hidden()
    # Analysts read numbers; they don't write knowledge, so no drafts are offered.
    expect(page.locator("#gaps tbody tr").first).to_be_visible()
    expect(
        page.locator("#gaps tbody").get_by_role("button", name=re.compile("Draft"))
    ).to_have_count(0)
    assert watch.errors == []
    page.context.close()

    page, watch = open_dashboard(browser, seeded.server, "wang")
    expect(page.locator("#not-allowed")).to_be_visible()
    expect(page.locator("#main")).to_be_hidden()
    res = page.request.get(f"{seeded.server.url}/v1/analytics/summary")
    assert res.status == 403
    page.screenshot(path=str(shots() / "analytics-agent-refused-en.png"))
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()
