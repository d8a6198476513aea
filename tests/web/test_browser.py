"""The calculator in a real Chromium (Debian's ``chromium``), driven by Playwright against the
app served on loopback. Screenshots land in test-artifacts/browser/.

Needs /usr/bin/chromium (``make test`` installs it). Without it the test fails and says so,
unless RIGFIT_SKIP_BROWSER=1 is set.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from rigfit.web import create_app

CHROMIUM = os.environ.get("RIGFIT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
R1_70B = "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"
# The flags a headless Chromium needs on a closed network, as root, in a container.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    os.environ.get("RIGFIT_SKIP_BROWSER") == "1", reason="RIGFIT_SKIP_BROWSER=1"
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (make test does)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _verdict(page: Page) -> str:
    return page.locator("#verdict").inner_text()


def test_calculator_flow(browser: Browser, base_url: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(base_url + "/")
    page.select_option("#model", R1_70B)
    page.select_option("#gpu", "rtx-4090")
    page.fill("#gpus", "2")
    page.fill("#ctx", "4096")
    page.select_option("#quant", "Q4_K_M")
    expect(page.locator("#verdict")).to_contain_text("Fits.")
    expect(page.locator(".summary")).to_contain_text("Q4_K_M weights")
    expect(page.locator(".summary")).to_contain_text("4,096 tokens")
    expect(page.locator("#decode-tok-s")).to_contain_text("tok/s")  # the speed section
    page.screenshot(path=str(ARTIFACTS / "1-q4_k_m-fits.png"), full_page=True)

    page.select_option("#quant", "BF16")  # 141 GB of weights on 2 × 24 GB
    expect(page.locator("#verdict")).to_contain_text("Does not fit.")
    expect(page).to_have_url(re.compile(r"quant=BF16"))
    expect(page.locator("#speed-note")).to_contain_text("not estimated")
    page.screenshot(path=str(ARTIFACTS / "2-bf16-does-not-fit.png"), full_page=True)

    shared = page.locator("#share-link").get_attribute("href")
    assert shared
    assert "quant=BF16" in shared
    other = browser.new_page()
    other.goto(base_url + shared)
    assert _verdict(other) == _verdict(page)
    assert other.locator("#quant").input_value() == "BF16"
    assert other.locator("#model").input_value() == R1_70B
    assert other.locator("#gpus").input_value() == "2"
    assert other.locator("#ctx").input_value() == "4096"
    other.screenshot(path=str(ARTIFACTS / "3-shared-link.png"), full_page=True)

    other.click(".summary a >> nth=0")  # the model's page
    expect(other.locator("h1")).to_have_text("DeepSeek-R1-Distill-Llama-70B")
    expect(other.locator("body")).to_contain_text("Memory by weight format")
    other.screenshot(path=str(ARTIFACTS / "4-model-page.png"), full_page=True)


def test_slider_and_keyboard(browser: Browser, base_url: str) -> None:
    page = browser.new_page()
    page.goto(base_url + f"/?model={R1_70B}&quant=Q4_K_M&gpu=rtx-4090&gpus=2&ctx=8192")
    slider = page.locator("#ctx-range")
    expect(slider).to_be_visible()
    slider.focus()
    page.keyboard.press("End")  # keyboard only: the slider's last stop is the model's maximum
    expect(page.locator("#ctx")).to_have_value("131072")
    expect(page.locator(".summary")).to_contain_text("131,072 tokens")
    expect(page.locator("#verdict")).to_contain_text("Does not fit.")

    page.select_option("#model", "Qwen/Qwen2.5-Math-1.5B")  # maximum 4,096: controls follow
    expect(page.locator("label[for=ctx]")).to_contain_text("4,096")
    expect(page.locator(".summary")).to_contain_text("Qwen2.5-Math-1.5B")


def test_phone_width(browser: Browser, base_url: str) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    for path in ("/", f"/models/{R1_70B}", "/models", "/gpus"):
        page.goto(base_url + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 390px"
    page.goto(base_url + "/")
    page.screenshot(path=str(ARTIFACTS / "5-phone.png"), full_page=True)
    # the verdict within the first screen's height, not below every field
    verdict_top = page.locator("#verdict").bounding_box()
    assert verdict_top is not None
    assert verdict_top["y"] < 844, f"the verdict starts {verdict_top['y']:.0f}px down"
    # chart labels readable: at least 9 px as drawn
    tick_px = page.evaluate(
        "Math.min(...[...document.querySelectorAll('.chart .tick')]"
        ".map(t => t.getBoundingClientRect().height))"
    )
    assert tick_px >= 9, f"chart labels {tick_px:.1f}px high"
    # numbers never break inside
    wrapped = page.evaluate(
        "[...document.querySelectorAll('td.num')].filter(td => {"
        " const r = document.createRange(); r.selectNodeContents(td);"
        " return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1; }).length"
    )
    assert wrapped == 0


def test_invalid_input_replaces_the_verdict(browser: Browser, base_url: str) -> None:
    page = browser.new_page()
    page.goto(base_url + f"/?model={R1_70B}&quant=Q4_K_M&gpu=rtx-4090&gpus=2&ctx=4096")
    expect(page.locator("#verdict")).to_contain_text("Fits.")
    page.fill("#ctx", "lots")
    expect(page.locator("#result .error")).to_be_visible()
    expect(page.locator("#verdict")).to_have_count(0)


def test_typed_context_survives_a_model_change(browser: Browser, base_url: str) -> None:
    page = browser.new_page()
    page.goto(base_url + f"/?model={R1_70B}&quant=Q4_K_M&gpu=rtx-4090&gpus=2&ctx=4096")
    page.fill("#ctx", "6000")
    expect(page.locator(".summary")).to_contain_text("6,000 tokens")
    page.select_option("#model", "meta-llama/Llama-3.1-8B-Instruct")
    expect(page.locator(".summary")).to_contain_text("Llama-3.1-8B-Instruct")
    expect(page.locator(".summary")).to_contain_text("6,000 tokens")
    assert page.url.count("ctx=") == 1


def test_pages_load_nothing_from_other_hosts(browser: Browser, base_url: str) -> None:
    """Every script, style, font and image comes from the app itself (it works offline)."""
    page = browser.new_page()
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    for path in (
        "/",
        f"/models/{R1_70B}",
        "/models",
        "/gpus",
        "/gpus/rtx-4090",
        "/compare",
        "/plan",
        "/train",
        "/accuracy",
        "/api/docs",
    ):
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
    foreign = [u for u in seen if not u.startswith(base_url) and not u.startswith("data:")]
    assert not foreign, foreign[:5]
    assert len(seen) >= 8


def test_plan_and_copy_a_command(browser: Browser, base_url: str) -> None:
    """Plan from the page, then copy the first option's command line to the clipboard."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 1400}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    page.goto(base_url + "/plan")
    page.select_option("#plan-model", "meta-llama/Llama-3.3-70B-Instruct")
    page.fill("#plan-ctx", "8k")
    page.select_option("#plan-segment", "consumer")
    page.click("#plan-form button[type=submit]")
    first = page.locator("#plan-options code.command").first
    expect(first).to_contain_text("llama-server -m Llama-3.3-70B-Instruct-")
    expect(page).to_have_url(re.compile(r"/plan\?.*segment=consumer"))
    command = first.inner_text()
    button = page.locator("#plan-options button.copy-text").first
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == command
    page.screenshot(path=str(ARTIFACTS / "7-plan.png"), full_page=True)

    page.fill("#plan-min", "1000")  # no consumer card serves a 70B that fast
    page.click("#plan-form button[type=submit]")
    expect(page.locator("#plan-none")).to_contain_text("--min-tok-s 1000")
    context.close()


def test_my_hardware(browser: Browser, base_url: str) -> None:
    """A card the catalog lacks, from its memory and bandwidth."""
    page = browser.new_page()
    page.goto(base_url + "/?model=Qwen/Qwen3-8B&quant=Q4_K_M&ctx=8192")
    page.click("#my-hardware summary")
    page.fill("#my_memory", "12GiB")
    page.fill("#my_bandwidth", "360GB/s")
    page.click("#calc button[type=submit]")
    expect(page.locator(".summary")).to_contain_text("Custom accelerator (12 GiB, 360 GB/s)")
    expect(page.locator("#decode-tok-s")).to_contain_text("tok/s")
