"""Position arithmetic and the REDUCING rule: pure functions over plain numbers.

A position is signed (a short is negative). A fill in the position's direction grows it at a new
weighted average entry price; a fill against it realizes P&L on the part it closes, and a fill larger
than the position flips it, opening the rest at the fill price.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

PRICE_STEP = Decimal("0.00000001")
ZERO = Decimal(0)


def grown_average(*, qty: Decimal, avg_entry_price: Decimal, fill_qty: Decimal, fill_price: Decimal) -> Decimal:
    """The average entry price of ``qty`` held at ``avg_entry_price`` grown by a fill, rounded half-even to
    PRICE_STEP exactly: the sum and the quotient are exact before the one rounding, as the database's
    ``autonomy_price_half_even`` computes it in the order path's one-statement fill."""
    with localcontext() as ctx:
        ctx.prec = 200  # far past any product or quotient of column values: only the quantize rounds
        return ((abs(qty) * avg_entry_price + fill_qty * fill_price) / (abs(qty) + fill_qty)).quantize(
            PRICE_STEP, rounding=ROUND_HALF_EVEN)


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
        return PositionChange(new_qty, grown_average(qty=qty, avg_entry_price=avg, fill_qty=fill_qty,
                                                     fill_price=fill_price), ZERO)
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
