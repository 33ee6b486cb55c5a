"""Broker adapters: one small protocol (:mod:`.base`), one module per broker.

``LeanAdapter`` (primary, torghut's LEAN runner) and ``AlpacaAdapter`` (fallback,
alpaca-py) both implement :class:`BrokerAdapter` and raise :class:`AdapterError`
with a ``reason`` such as ``lean_submit_timeout``.
"""

from .alpaca import AlpacaAdapter, configure_trading_client
from .base import AdapterError, BrokerAdapter, BrokerOrder, HealthResult, OrderRequest
from .lean import LeanAdapter

__all__ = [
    "AdapterError",
    "AlpacaAdapter",
    "BrokerAdapter",
    "BrokerOrder",
    "HealthResult",
    "LeanAdapter",
    "OrderRequest",
    "configure_trading_client",
]
