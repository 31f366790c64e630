"""The proxy's status page: its data, its access rule, and its charts as headless Chromium
draws them (a screenshot is saved and its pixels checked, beside a dump of the page's DOM)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import httpx
import pytest

from tests.harness.process import require
from tests.harness.upstream import Upstream

from ._support import MASTER_KEY, Proxy, models
from .conftest import ProxyFactory

#: The colours the page draws its two charts in.
HIT_RATIO_BLUE = (0x09, 0x69, 0xDA)
SAVINGS_GREEN = (0x1A, 0x7F, 0x37)


@pytest.fixture(scope="module")
def open_proxy(proxy_factory: ProxyFactory, llm_upstream_server: Upstream) -> Proxy:
    """A proxy without a master key (its status page is open), with some traffic."""
    config = {
        "model_list": models(llm_upstream_server),
        "litellm_settings": {"cache": True, "cache_params": {"type": "local"}},
    }
    proxy = proxy_factory("proxy-status", config, None)
    for question in ("What is 2+2?", "What is 2+2?", "What is 2+2?", "Capital of France?"):
        body = {"model": "gpt-test", "messages": [{"role": "user", "content": question}]}
        proxy.post("/v1/chat/completions", body).raise_for_status()
    return proxy


def test_the_data_has_the_hit_ratio_over_time_the_backend_and_the_top_models(
    open_proxy: Proxy,
) -> None:
    data = open_proxy.get("/ui/data").json()
    series = data["series"]
    assert len(series) >= 2 and series[0]["t"] <= series[-1]["t"]
    assert series[-1]["hits"] >= 2 and series[-1]["misses"] >= 2
    assert series[-1]["tokens"] > 0
    assert data["models"][0]["model"] == "gpt-test" and data["models"][0]["hit"] >= 2
    assert data["cache"]["type"] == "local" and data["cache"]["health"] == "up"


def test_with_a_master_key_the_page_is_for_the_admin(proxy: Proxy) -> None:
    refused = httpx.get(proxy.url + "/ui", timeout=10)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic")
    assert httpx.get(proxy.url + "/ui/data", timeout=10).status_code == 401
    basic = base64.b64encode(f"admin:{MASTER_KEY}".encode()).decode()
    page = httpx.get(proxy.url + "/ui", headers={"authorization": f"Basic {basic}"}, timeout=10)
    assert page.status_code == 200 and "<svg" in page.text
    assert proxy.get("/ui/data").status_code == 200  # the key as a bearer token
    wrong = base64.b64encode(b"admin:not-the-key").decode()
    answer = httpx.get(proxy.url + "/ui", headers={"authorization": f"Basic {wrong}"}, timeout=10)
    assert answer.status_code == 401


def test_the_page_loads_nothing_from_elsewhere(open_proxy: Proxy) -> None:
    page = open_proxy.get("/ui").text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert 'fetch("ui/data"' in page


def chromium(*arguments: str, cwd: Path) -> str:
    browser = require(shutil.which("chromium"), "Debian's chromium (apt-get install chromium)")
    argv = [
        browser,
        "--headless",
        "--no-sandbox",  # tests run as root on CI
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1280,900",
        "--virtual-time-budget=10000",  # let the page fetch its data and draw
        *arguments,
    ]
    done = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and interlace == 0 and colour in (2, 6)
    step = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * step
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up = previous[i]
            corner = previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, step, rows


def count_colour(pixels: tuple[int, int, list[bytes]], colour: tuple[int, int, int]) -> int:
    width, step, rows = pixels
    near = 0
    for row in rows:
        for x in range(0, width * step, step):
            if all(abs(row[x + c] - colour[c]) <= 24 for c in range(3)):
                near += 1
    return near


def test_the_page_draws_its_charts_in_headless_chromium(
    open_proxy: Proxy, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = open_proxy.url + "/ui"
    dom = chromium("--dump-dom", url, cwd=tmp_path)
    assert 'data-rendered="true"' in dom, dom[-2000:]
    for chart in ("hit-ratio-chart", "savings-chart"):
        svg = re.search(rf'<svg id="{chart}".*?</svg>', dom, re.S)
        assert svg is not None, chart
        points = re.search(r'<polyline points="([^"]+)"', svg.group(0))
        assert points is not None and len(points.group(1).split()) >= 2, chart
    assert re.search(r"<td>gpt-test</td>", dom)
    assert 'id="health" class="badge up"' in dom

    shot = tmp_path / "status.png"
    chromium(f"--screenshot={shot}", url, cwd=tmp_path)
    print(f"status page screenshot: {shot}")  # kept with the test's temporary files
    pixels = png_pixels(shot)
    assert pixels[0] == 1280
    assert count_colour(pixels, HIT_RATIO_BLUE) > 200  # the hit-ratio line and its bars
    assert count_colour(pixels, SAVINGS_GREEN) > 200  # the savings line (and the badge)
