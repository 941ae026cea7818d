"""The run page's timeline in Chromium, over a real run with two 0.3 s branches at once on ``local``.

The page is shot at 1280 and 800 px wide into ``test-artifacts/dashboard/timeline-*.png``, and
what a user would see is measured in the DOM: the two branches' bars side by side on the
time axis, the join after them, the axis' times apart from each other, where each step ran
in the steps table, and no page wider than the window.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dashboard.conftest import ARTIFACTS
from tests.integration.dashboard.test_page_layout import OVERFLOW

pytestmark = [pytest.mark.integration, pytest.mark.browser]

#: Each bar's box (client coordinates) by step, and each axis label's box.
DRAWN = """() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const bars = {};
  for (const row of document.querySelectorAll('.gantt-row[data-step]')) {
    const rect = row.querySelector('rect.gantt-bar');
    if (rect) bars[row.dataset.step] = box(rect);
  }
  return {bars, labels: [...document.querySelectorAll('svg.gantt-axis text')].map((t) => [t.textContent, box(t)])};
}"""


@pytest.fixture
def parallel_run(dosirak_home: Path) -> Any:
    from tests._pipelines.parallel import parallel, use_two_workers

    use_two_workers()
    return parallel()


@pytest.mark.parametrize("width", [1280, 800])
def test_the_timeline_draws_parallel_branches_side_by_side_and_fits_the_window(
        chromium: Any, dashboard: str, parallel_run: Any, width: int) -> None:
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    try:
        answer = page.goto(f"{dashboard}/runs/{parallel_run.id}")
        assert answer is not None and answer.status == 200
        page.wait_for_load_state("load")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"timeline-{width}.png"), full_page=True)
        drawn = page.evaluate(DRAWN)
        fit = page.evaluate(OVERFLOW)
        where = page.locator('tr[data-step="left_branch"] td.where').inner_text()
        tooltip = page.locator('.gantt-row[data-step="right_branch"] rect title').text_content()
    finally:
        context.close()
    assert problems == []
    assert fit["scrollWidth"] <= fit["innerWidth"], fit
    bars = drawn["bars"]
    assert set(bars) == {"source", "left_branch", "right_branch", "join"}
    left, right, join = bars["left_branch"], bars["right_branch"], bars["join"]
    shared = min(left[2], right[2]) - max(left[0], right[0])
    assert shared >= 0.6 * min(left[2] - left[0], right[2] - right[0]) > 0, (left, right)  # at once, on one axis
    assert left[1] != right[1]  # on rows of their own
    assert join[0] >= max(left[2], right[2]) - 2  # the join starts when both ended
    labels = drawn["labels"]
    assert labels[0][0] == "0" and len(labels) >= 3
    for (_, a), (text, b) in zip(labels, labels[1:], strict=False):
        assert a[2] <= b[0], f"axis label {text!r} runs into the one before it"
    assert socket.gethostname() in where and "dosirak-worker-" in where and "cpus=1" in where
    assert tooltip is not None and f"pid {os.getpid()} thread dosirak-worker-" in tooltip
