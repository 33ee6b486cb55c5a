"""Position arithmetic and the REDUCING rule: pure functions over plain numbers.

A position is signed (a short is negative). A fill in the position's direction grows it at a new
weighted average entry price; a fill against it realizes P&L on the part it closes, and a fill larger
than the position flips it, opening the rest at the fill price.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

PRICE_STEP = Decimal("0.00000001")
ZERO = Decimal(0)


def signed_qty(side: str, qty: Decimal) -> Decimal:
    """+qty for a buy, -qty for a sell."""
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be buy or sell, not {side!r}")
    return qty if side == "buy" else -qty


@dataclass(frozen=True)
class PositionChange:
    qty: Decimal
    avg_entry_price: Decimal | None
    realized_pnl: Decimal  # realized by this fill alone


def position_after_fill(*, qty: Decimal, avg_entry_price: Decimal | None, side: str, fill_qty: Decimal,
                        fill_price: Decimal) -> PositionChange:
    """The position after one fill, and the P&L the fill realized."""
    if fill_qty <= 0 or fill_price <= 0:
        raise ValueError("a fill has a positive quantity and price")
    delta = signed_qty(side, fill_qty)
    avg = avg_entry_price or ZERO
    if qty == 0 or (qty > 0) == (delta > 0):
        new_qty = qty + delta
        new_avg = (abs(qty) * avg + fill_qty * fill_price) / abs(new_qty)
        return PositionChange(new_qty, new_avg.quantize(PRICE_STEP), ZERO)
    closed = min(abs(delta), abs(qty))
    direction = 1 if qty > 0 else -1
    realized = closed * (fill_price - avg) * direction
    new_qty = qty + delta
    if new_qty == 0:
        return PositionChange(ZERO, None, realized)
    if (new_qty > 0) != (qty > 0):  # flipped: the rest opens at the fill price
        return PositionChange(new_qty, fill_price.quantize(PRICE_STEP), realized)
    return PositionChange(new_qty, avg_entry_price, realized)


def order_reduces(*, position_qty: Decimal, open_reducing_qty: Decimal, side: str, qty: Decimal) -> bool:
    """REDUCING admits an order only when it trades against the position and, with the orders already
    open on that side, cannot take it past flat (never a flip)."""
    if position_qty == 0:
        return False
    if (position_qty > 0) == (signed_qty(side, qty) > 0):
        return False
    return open_reducing_qty + qty <= abs(position_qty)
