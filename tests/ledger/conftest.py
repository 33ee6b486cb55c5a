"""Ledger fixtures that need SQL rather than the writer."""
from __future__ import annotations

import pytest
from django.db import connection

from tests.ledger.factories import ArtifactFactory, RunFactory, sha


@pytest.fixture
def legacy_run():
    """A run an older version accepted: dataset.to in year 10000 UTC, a fold starting before year 1
    (BC), and a dataset row with both; inserted with SQL as such a database would hold them."""
    template = ArtifactFactory(run_id="template-run")
    RunFactory(body=template)
    y10k, bc = "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"
    with connection.cursor() as c:
        c.execute("""
            INSERT INTO research_datasets (fingerprint, version, source, symbols, timeframe, first_ts, last_ts,
                                           bar_count, snapshot_ref, created_at)
            VALUES (%s, 'legacy', 'external', '{AAPL}', '1Min', %s, %s, 0, '', now()) RETURNING id""",
                  [sha("legacy-dataset"), bc, y10k])
        dataset_id = c.fetchone()[0]
        c.execute("""
            INSERT INTO research_runs (run_id, schema_version, status, strategy_id, strategy_name, strategy_type,
                strategy_version, code_commit, runner_version, dataset_id, dataset_version, dataset_from, dataset_to,
                dataset_snapshot_ref, dataset_symbols, feature_snapshot_id, feature_schema_version,
                feature_spec_hash, artifact_sha256, artifact, created_by, created_at)
            SELECT 'legacy-y10k', schema_version, status, strategy_id, strategy_name, strategy_type,
                   strategy_version, code_commit, runner_version, %s, dataset_version, dataset_from, %s,
                   dataset_snapshot_ref, dataset_symbols, feature_snapshot_id, feature_schema_version,
                   feature_spec_hash, repeat('0', 64),
                   jsonb_set(jsonb_set(artifact, '{run_id}', '"legacy-y10k"'), '{dataset,to}', to_jsonb(%s::text)),
                   'old-version', now()
            FROM research_runs WHERE run_id = 'template-run' RETURNING id""", [dataset_id, y10k, y10k])
        run_pk = c.fetchone()[0]
        c.execute("""
            INSERT INTO research_candidates (run_id, candidate_id, candidate_hash, position, parameter_set,
                                             decision_count, trade_count, symbols_covered)
            SELECT %s, 'legacy-cand', candidate_hash, 0, parameter_set, decision_count, trade_count, symbols_covered
            FROM research_candidates WHERE candidate_id = %s RETURNING id""",
                  [run_pk, template["candidates"][0]["candidate_id"]])
        cand_pk = c.fetchone()[0]
        c.execute("""
            INSERT INTO research_fold_metrics (candidate_id, fold_name, fold_order, train_start, train_end,
                test_start, test_end, decision_count, trade_count, gross_pnl, net_pnl, max_drawdown, turnover_ratio,
                cost_bps, sharpe, regime_label)
            SELECT %s, f.fold_name, f.fold_order, %s, f.train_end, f.test_start, f.test_end, f.decision_count,
                   f.trade_count, f.gross_pnl, f.net_pnl, f.max_drawdown, f.turnover_ratio, f.cost_bps, f.sharpe,
                   f.regime_label
            FROM research_fold_metrics f JOIN research_candidates t ON t.id = f.candidate_id
            WHERE t.candidate_id = %s""", [cand_pk, bc, template["candidates"][0]["candidate_id"]])
    return {"run_pk": run_pk, "candidate_pk": cand_pk, "dataset_pk": dataset_id, "y10k": y10k}
