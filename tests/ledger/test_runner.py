"""Datasets stored in the database and the walk-forward runner end to end."""
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from ledger import selectors, services
from ledger.choices import DatasetSource
from ledger.models import Bar, Dataset, ResearchRun
from ledger.walkforward.fingerprint import dataset_fingerprint
from ledger.walkforward.synthetic import generate_bars

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_bars():
    return generate_bars(["AAPL", "MSFT"], n_days=12, seed=3)


def test_store_and_load_round_trip_keeps_the_fingerprint(small_bars):
    dataset, created = services.dataset_store_bars(bars=small_bars, version="syn-1", source=DatasetSource.SYNTHETIC)
    assert created and dataset.bar_count == sum(len(b) for b in small_bars.values())
    assert Bar.objects.filter(dataset=dataset).count() == dataset.bar_count
    loaded = selectors.dataset_bars(dataset=dataset)
    assert sorted(loaded) == ["AAPL", "MSFT"]
    assert dataset_fingerprint(loaded) == dataset.fingerprint
    again, created_again = services.dataset_store_bars(bars=loaded, version="other-label",
                                                       source=DatasetSource.SYNTHETIC)
    assert not created_again and again.pk == dataset.pk


def test_bars_are_append_only(small_bars):
    services.dataset_store_bars(bars=small_bars, version="syn-1", source=DatasetSource.SYNTHETIC)
    with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic(), connection.cursor() as c:
        c.execute("UPDATE research_bars SET close = close + 1")


@pytest.mark.smoke
def test_runner_is_deterministic_and_stores_through_the_writer(small_bars):
    dataset, _ = services.dataset_store_bars(bars=small_bars, version="syn-1", source=DatasetSource.SYNTHETIC)
    from ledger.walkforward import FoldSpec

    spec = FoldSpec(train_days=5, test_days=2)
    first = services.walkforward_run(dataset=dataset, strategies=["macd_rsi", "tsmom"], code_commit="abc1234",
                                     fold_spec=spec)
    assert [o.result.created for o in first] == [True, True]
    run = ResearchRun.objects.get(run_id=first[0].result.run.run_id)
    assert run.dataset_id == dataset.id and run.status == "passed"
    assert run.candidates.count() >= 1
    cand = run.candidates.first()
    assert cand.folds.count() >= 2
    assert {s.stress_case for s in cand.stress.all()} == {"spread", "volatility", "liquidity", "halt"}
    second = services.walkforward_run(dataset=dataset, strategies=["macd_rsi", "tsmom"], code_commit="abc1234",
                                      fold_spec=spec)
    assert [o.result.created for o in second] == [False, False]
    assert [o.result.artifact_sha256 for o in second] == [o.result.artifact_sha256 for o in first]
    assert [o.result.run.run_id for o in second] == [o.result.run.run_id for o in first]
    assert ResearchRun.objects.count() == 2


def test_runner_refuses_unknown_strategies(small_bars):
    dataset, _ = services.dataset_store_bars(bars=small_bars, version="syn-1", source=DatasetSource.SYNTHETIC)
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown strategy"):
        services.walkforward_run(dataset=dataset, strategies=["nope"], code_commit="x")


def test_commands_generate_import_and_run(tmp_path):
    out = io.StringIO()
    call_command("generate_bars", "--dataset-version", "syn-cmd", "--symbols", "AAPL", "--days", "8", stdout=out)
    assert "stored: dataset syn-cmd" in out.getvalue()
    out = io.StringIO()
    call_command("run_walkforward", "--dataset", "syn-cmd", "--strategy", "tsmom", "--train-days", "4",
                 "--test-days", "2", "--code-commit", "c0ffee", stdout=out)
    assert "tsmom: stored" in out.getvalue()
    from ledger.walkforward.csv_io import write_bars_csv

    csv_path = tmp_path / "bars.csv"
    write_bars_csv(generate_bars(["SPY"], n_days=2, seed=1), csv_path)
    out = io.StringIO()
    call_command("import_bars", str(csv_path), "--dataset-version", "csv-1", stdout=out)
    assert Dataset.objects.get(version="csv-1").source == "csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,timestamp,open,high,low,close,volume\nSPY,2025-01-02T14:30:00Z,1,1,1,abc,10\n")
    with pytest.raises(CommandError, match="line 2"):
        call_command("import_bars", str(bad), "--dataset-version", "csv-bad")
    with pytest.raises(CommandError, match="no dataset"):
        call_command("run_walkforward", "--dataset", "missing")
