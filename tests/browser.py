"""What the browser tests share: Debian's Chromium driven by Playwright, skipped (with the reason) where it
is not installed, and the folder their screenshots go to."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[1] / "var" / "screenshots"
PASSWORD = "a-long-password-1"  # the browser tests' users are created with it


def log_in(browser, base_url: str, *, width: int, username: str = "olga"):
    """A new page of ``width`` px, logged in as ``username`` through the login form."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    return page
