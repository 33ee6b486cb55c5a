"""The demo's LLM reviewer and its governance, through the services behind ``POST /api/v1/llm/reviews``,
``POST /api/v1/llm/allowlist`` and ``POST /api/v1/llm/stage``.

The reviewer (``demo-agent``) reviews about one order in three of the lane strategies before the order is
submitted (the review describes the order), and the strategy then submits the order as the applied verdict
lets it: a veto is not sent (when sent anyway, admission refuses it, 423 ``llm_veto``), an applied
adjustment is sent with the adjusted quantity. Timeline (trading days of ``demo.services.demo_executions``):

* before day 0: the model and the prompt version are allowlisted, and the operator moves the stage from
  stage0 to stage1 (shadow): reviews are logged, orders pass unchanged, the guardrails' verdict is stored;
* day 5: stage2 (veto only) on the shadow window's evidence, through the real rules (the readiness
  scorecard must have been green for a day, Phase D): low-confidence advice, vetoes and adjustments
  (not allowed below stage3) now refuse orders;
* day 9: stage3 (bounded adjust): adjustments apply, clamped to [0.5×, 1.25×] of the order;
* day 11: an adjustment to zero is blocked (veto ``adjusted_qty_not_positive``);
* day 13: the LLM times out three times within 300 s on one order: the LLM circuit opens (a control
  event and an alert), the order's review meets the open circuit and the error fallback vetoes it;
* day 14: the strategy submits an adjusted order unchanged: 422 ``llm_adjustment_mismatch``.

Deterministic (its own seeded generator) and only run inside the replay, which runs once.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal

from access.roles import Role
from autonomy import services
from autonomy.choices import LlmAllowlistKind, LlmAppliedVerdict, LlmStage
from autonomy.llm_schemas import LlmReviewIn
from autonomy.selectors import llm_governance_get
from core.errors import PolicyRefused

MODEL = "torghut-reviewer-2026-05"
PROMPT_VERSION = "order-review/v3"
REVIEWER, OPERATOR = "demo-agent", "demo"
OPERATOR_ROLES = frozenset({Role.OPERATOR})

# day: (stage, why) — moves the operator makes at the start of that trading day
STAGES = {
    5: (LlmStage.STAGE2, "shadow window clean: the guardrails' vetoes match the desk's; enforce vetoes"),
    9: (LlmStage.STAGE3, "veto-only week reviewed; bounded adjustments approved by the risk committee"),
}
# day: the scripted reviews of that day's first reviewed orders (the rest are drawn at random)
SCRIPT = {
    1: ["low_confidence", "adjust_down"],
    5: ["low_confidence", "adjust_down", "veto"],
    9: ["adjust_up", "adjust_down"],
    11: ["adjust_zero"],
    13: ["errors"],
    14: ["ignore_adjustment"],  # no strategy trades at canary any more: no cap refuses the order first
}
RATIONALES = {
    "approve": ["Signal consistent with the trend and the spread is normal; size within bounds.",
                "Momentum confirmed on volume; no event risk in the window.",
                "Entry matches the strategy's regime; liquidity is ample."],
    "veto": ["Earnings after the close: the gap risk is outside the strategy's mandate.",
             "Spread widened to three times its median; the fill would cost the edge."],
    "low_confidence": ["Mixed signals: the trend is up but breadth is weak.",
                       "Not enough context to judge the move; the last decisions disagree."],
    "adjust": ["Volatility is elevated: size down to keep the risk per trade constant.",
               "Conviction is high and liquidity deep: size up within the policy bounds."],
}


class DemoLlm:
    """Called by the executions replay: at the start of each trading day, and for each order it submits."""

    def __init__(self, progress: Callable[[str], object]):
        self.progress = progress
        self.rng = random.Random(7)
        self.script: list[str] = []
        self.counts = {"llm_reviews": 0, "llm_errors": 0, "llm_stage_changes": 0, "llm_stage_refused": 0}

    def setup(self) -> None:
        for kind, value in ((LlmAllowlistKind.MODEL, MODEL), (LlmAllowlistKind.PROMPT_VERSION, PROMPT_VERSION)):
            services.llm_allowlist_set(kind=kind, value=value, allowed=True, actor=OPERATOR, roles=OPERATOR_ROLES,
                                       reason="evaluated on last quarter's decisions (report llm-eval-2026-04)")
        if llm_governance_get().stage == LlmStage.STAGE0:
            self._stage(LlmStage.STAGE1, "shadow the reviewer on paper orders before it may act")

    def on_day(self, day: int) -> None:
        self.script = list(SCRIPT.get(day, []))
        if day in STAGES:
            self._stage(*STAGES[day], day=day)

    def _stage(self, stage: str, reason: str, *, day: int | None = None) -> None:
        try:
            services.llm_stage_set(stage=stage, reason=reason, actor=OPERATOR, roles=OPERATOR_ROLES,
                                   evaluation_report=f"llm-eval-2026-04#{stage}",
                                   effective_challenge_id=f"challenge-{stage}-{day or 0:02d}")
        except PolicyRefused as refused:
            self.counts["llm_stage_refused"] += 1
            self.progress(f"  LLM stage {stage} refused: {refused.message}")
            return
        self.counts["llm_stage_changes"] += 1
        self.progress(f"  LLM stage → {stage}")

    def review(self, order, *, clock: dict, live: bool) -> object:
        """Review ``order`` (an ``execution.services.OrderInput``) before it is submitted; return the order
        as the strategy submits it after the applied verdict."""
        kind = self.script.pop(0) if self.script else self._draw()
        body = self._body(order, kind, live=live)
        if kind == "errors":
            at = clock["now"]
            for seconds in (90, 60, 30):  # the reviewer times out, three times within 300 s: the circuit opens
                clock["now"] = at - dt.timedelta(seconds=seconds)
                self._file({**self._envelope(order, live=live), "error": "timeout after 20 s waiting for the model",
                            "tokens": {"prompt": 1400, "completion": 0}})
                self.counts["llm_errors"] += 1
            clock["now"] = at
        row = self._file(body)
        if row.applied_verdict == LlmAppliedVerdict.ADJUST and kind != "ignore_adjustment":
            return dataclasses.replace(order, qty=row.applied_qty)
        return order

    def _file(self, body: dict):
        row, _created = services.llm_review_record(review=LlmReviewIn.model_validate(body), actor=REVIEWER)
        self.counts["llm_reviews"] += 1
        return row

    def _draw(self) -> str:
        roll = self.rng.random()
        if roll < 0.70:
            return "approve"
        if roll < 0.80:
            return "veto"
        if roll < 0.88:
            return "low_confidence"
        return self.rng.choice(["adjust_down", "adjust_up"])

    def _envelope(self, order, *, live: bool) -> dict:
        described = {"strategy": order.strategy, "symbol": order.symbol, "side": order.side, "qty": str(order.qty),
                     "type": order.order_type}
        if order.limit_price is not None:
            described["limit_price"] = str(order.limit_price)
        return {"client_order_id": order.client_order_id, "model": MODEL, "prompt_version": PROMPT_VERSION,
                "order": described,
                "input": {"decision": described, "trading_mode": "live" if live else "paper",
                          "market": {"decision_price": str(order.decision_price)},
                          "policy_bounds": {"qty_min_ratio": "0.5", "qty_max_ratio": "1.25",
                                            "max_rationale_chars": 280}}}

    def _body(self, order, kind: str, *, live: bool) -> dict:
        rng = self.rng
        body = {**self._envelope(order, live=live),
                "tokens": {"prompt": rng.randint(1200, 1900), "completion": rng.randint(60, 220)}}
        if kind in ("approve", "errors"):
            advice = {"verdict": "approve", "confidence": round(rng.uniform(0.62, 0.96), 2),
                      "rationale": rng.choice(RATIONALES["approve"]), "risk_flags": []}
        elif kind == "veto":
            advice = {"verdict": "veto", "confidence": round(rng.uniform(0.7, 0.92), 2),
                      "rationale": rng.choice(RATIONALES["veto"]), "risk_flags": ["event_risk"]}
        elif kind == "low_confidence":
            advice = {"verdict": rng.choice(["approve", "veto"]), "confidence": round(rng.uniform(0.25, 0.45), 2),
                      "rationale": rng.choice(RATIONALES["low_confidence"]), "risk_flags": ["low_conviction"]}
        else:  # an adjustment: down by half (at the bound), up past the 1.25x bound (clamped), or to zero
            factor = {"adjust_down": Decimal("0.5"), "adjust_up": Decimal(2), "adjust_zero": Decimal(0),
                      "ignore_adjustment": Decimal("0.5")}[kind]
            advice = {"verdict": "adjust", "confidence": round(rng.uniform(0.66, 0.9), 2),
                      "adjusted_qty": str(order.qty * factor),
                      "rationale": RATIONALES["adjust"][factor > 1], "risk_flags": ["volatility"]}
        return {**body, **advice}
