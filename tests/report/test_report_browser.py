"""The report renders in a real browser: headless Chromium draws the page and its plots."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib import image

from slo_engine.cli import main

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=1000,1600",
)


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    # scripts/test.sh installs it; skipping is only for a hand-made set-up.
    pytest.fail("needs Debian's `chromium` package: apt-get install -y chromium")


def test_report_screenshot_shows_the_table_and_plots(stack, chromium, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(
        main, ["report", "--prometheus", stack.url, str(stack.specs), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    shot = tmp_path / "shot.png"

    done = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            (out / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    pixels = image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1000)
    ink = (pixels < 0.9).any(axis=2)
    assert ink.mean() > 0.02, "the page is blank"
    # The first plot sits below the summary: a band of it holds many colours.
    rows_with_ink = np.flatnonzero(ink.mean(axis=1) > 0.05)
    band = pixels[rows_with_ink[-200:]]
    colours = np.unique((band * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, "no plot was drawn"
    assert (np.abs(band - band.mean(axis=(0, 1))) > 0.1).any()
