import re

import pytest

from autonomy import services
from tests.access.factories import StrategyFactory

pytestmark = pytest.mark.django_db


def test_autonomy_page_shows_state_lane_and_symbols(browser):
    html = browser.get("/autonomy/").content.decode()
    assert "ACTIVE" in html and "Every symbol is enabled" in html and "No strategy yet" in html
    services.trading_state_set(state="HALTED", reason="drawdown 8%", actor="ops")
    services.lean_lane_set(enabled=False, reason="runner upgrade", actor="ops")
    services.symbol_mode_set(symbol="NVDA", mode="canary", reason="earnings", actor="ops",
                             caps={"max_qty_per_order": "5"})
    StrategyFactory(name="alpha")
    services.trading_state_set(state="REDUCING", reason="slippage drift", actor="ops", strategy="alpha")
    services.budget_use(name="llm_tokens", amount=1234, actor="lane-7")
    html = browser.get("/autonomy/").content.decode()
    assert "HALTED" in html and "drawdown 8%" in html
    assert "runner upgrade" in html
    assert "NVDA" in html and "earnings" in html
    assert re.search(r'<tr data-symbol="NVDA">.*?<td class="num">5</td>\s*<td class="num">—</td>\s*'
                     r'<td class="num">—</td>', html, re.S)
    assert "alpha" in html and "slippage drift" in html
    assert "llm_tokens" in html and "1234" in html
