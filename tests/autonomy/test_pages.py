import pytest

from autonomy import services

pytestmark = pytest.mark.django_db


def test_autonomy_page_shows_state_lane_and_symbols(browser):
    html = browser.get("/autonomy/").content.decode()
    assert "ACTIVE" in html and "Every symbol is enabled" in html
    services.trading_state_set(state="HALTED", reason="drawdown 8%", actor="ops")
    services.lean_lane_set(enabled=False, reason="runner upgrade", actor="ops")
    services.symbol_mode_set(symbol="NVDA", mode="disabled", reason="earnings", actor="ops")
    html = browser.get("/autonomy/").content.decode()
    assert "HALTED" in html and "drawdown 8%" in html
    assert "runner upgrade" in html
    assert "NVDA" in html and "earnings" in html
