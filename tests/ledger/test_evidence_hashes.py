"""The fast row hashes (orjson) of the evidence rows an evaluation reads are the canonical ones
(``core.canonical.content_sha256``), whatever the rows hold."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.canonical import content_sha256, plain_rows_sha256
from ledger.models import FoldMetric, ResearchCandidate
from ledger.selectors import candidate_evidence_rows
from ledger.services import run_ingest
from tests.ledger.factories import ArtifactFactory, CandidateArtifactFactory, FoldFactory

# every escape the canonical encoder writes, and characters it must leave alone
TRICKY = ['quote " and backslash \\', "tab\tnew\nline\rcr\bbs\fff", "ctl \x01\x1f\x7f", "é ü ß 漢字 😀",
          "line sep \u2028 para \u2029", "</script>&'", "slash / and \\u0041 written out", ""]


@pytest.mark.django_db
def test_fast_hashes_of_fold_rows_read_from_the_database_are_the_canonical_ones():
    run_ingest(body=ArtifactFactory(run_id="hash-run", candidates=[
        CandidateArtifactFactory(candidate_id="hash-c1", folds=[FoldFactory(index=0)]),
        CandidateArtifactFactory(candidate_id="hash-c2", folds=[FoldFactory(index=0, sharpe=None)])]), actor="test")
    # rows the ingest schema would refuse (free text, fractional seconds, odd decimals) can still be
    # in the table (legacy rows, or rows written by another version): their hashes must agree as well
    candidate = ResearchCandidate.objects.get(candidate_id="hash-c1")
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    for i, text in enumerate(TRICKY, start=10):
        FoldMetric.objects.create(
            candidate=candidate, fold_name=f"f{i} {text}"[:64], fold_order=i, regime_label=text,
            train_start=moment, train_end=moment + timedelta(microseconds=i * 1001),
            test_start=moment + timedelta(days=1), test_end=moment + timedelta(days=1, seconds=1),
            decision_count=i, trade_count=0, gross_pnl=Decimal("1.500"), turnover_ratio=Decimal("0"),
            net_pnl=Decimal(["-0.50", "100", "0E-8", "12.345678"][i % 4]), max_drawdown=Decimal("-0"),
            cost_bps=Decimal("1E+2"), sharpe=None if i % 2 else Decimal("0.10"))

    rows = candidate_evidence_rows(candidate_id="hash-c1")

    assert len(rows["folds"]) == len(TRICKY) + 2
    assert set(TRICKY) <= {f["regime_label"] for f in rows["folds"]}
    assert any(f["sharpe"] is None for f in rows["folds"])
    assert any("." in f["train_end"] for f in rows["folds"])
    assert plain_rows_sha256(rows["folds"]) == [content_sha256(f) for f in rows["folds"]]


# flat rows of plain values take the fast path (integers past 64 bits make the batch fall back)
_plain = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64 - 1)
          | st.text(st.characters(exclude_categories=["Cs"])))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=12), _plain, max_size=8),
                max_size=5))
def test_the_fast_row_hashes_equal_the_canonical_ones(rows):
    assert plain_rows_sha256(rows) == [content_sha256(row) for row in rows]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=6), st.floats(allow_nan=False, allow_infinity=False)
                                | st.lists(st.integers(), max_size=2), max_size=4), max_size=4))
def test_floats_and_nested_values_hash_alike_too(rows):
    assert plain_rows_sha256(rows) == [content_sha256(row) for row in rows]
