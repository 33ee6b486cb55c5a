"""Research ledger benchmarks (issue targets):

- ingest one run of 50 candidates × 40 folds × 4 stress cases through the API in < 500 ms,
  with its ratio to inserting the same rows with psycopg COPY in the same process (aim < 3×);
- with 100,000 runs stored, the runs list (API and page, the page sorted and filtered on the best
  candidate's figures too) in < 100 ms, with a query count that does not grow with page size.
"""
from __future__ import annotations

from bench.common import bench_database, timed, verdict


def _artifact(run_id: str) -> dict:
    from tests.ledger.factories import ArtifactFactory, CandidateArtifactFactory, folds, stress_rows

    cands = [CandidateArtifactFactory(candidate_id=f"{run_id}-c{i:02d}", folds=folds(40), stress=stress_rows())
             for i in range(50)]
    return ArtifactFactory(run_id=run_id, candidates=cands)


def _copy_same_rows(body: dict, run_pk_seed: int) -> None:
    """Insert the rows of ``body`` with COPY (the floor a writer can reach in this process)."""
    import json

    from django.db import connection, transaction

    from core.canonical import content_sha256
    from ledger.models import Dataset, FeatureSnapshot
    from strategies.models import Strategy

    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        strategy = Strategy.objects.get(name=body["strategy"]["name"])
        dataset = Dataset.objects.get(fingerprint=body["dataset"]["fingerprint"])
        snap = FeatureSnapshot.objects.get(snapshot_fingerprint=body["features"]["snapshot_fingerprint"])
        digest = content_sha256(body)
        cursor.execute(
            "INSERT INTO research_runs (run_id, schema_version, status, strategy_id, strategy_name, strategy_type, "
            "strategy_version, code_commit, runner_version, dataset_id, dataset_version, dataset_from, dataset_to, "
            "dataset_snapshot_ref, dataset_symbols, feature_snapshot_id, feature_schema_version, feature_spec_hash, "
            "artifact_sha256, artifact, created_by, created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,"
            "%s,%s,%s,%s,%s,%s,%s,now()) RETURNING id",
            [f"copy-{run_pk_seed}", body["schema_version"], body["status"], strategy.id, "macd_rsi", "plugin_v3",
             "3.0.1", body["code_commit"], body["runner_version"], dataset.id, "v", body["dataset"]["from"],
             body["dataset"]["to"], "", ["AAPL"], snap.id, "3.0.0", body["features"]["spec_hash"], digest,
             json.dumps(body), "bench"])
        run_id = cursor.fetchone()[0]
        with raw.copy("COPY research_candidates (run_id, candidate_id, candidate_hash, position, parameter_set, "
                      "decision_count, trade_count, symbols_covered) FROM STDIN") as copy:
            for i, c in enumerate(body["candidates"]):
                copy.write_row([run_id, f"copy-{run_pk_seed}-{i}", content_sha256(c), i,
                                json.dumps(c["parameter_set"]), c["decision_count"], c["trade_count"],
                                "{" + ",".join(c["symbols"]) + "}"])
        cursor.execute("SELECT id, position FROM research_candidates WHERE run_id = %s", [run_id])
        ids = {pos: pk for pk, pos in cursor.fetchall()}
        with raw.copy("COPY research_fold_metrics (candidate_id, fold_name, fold_order, train_start, train_end, "
                      "test_start, test_end, decision_count, trade_count, gross_pnl, net_pnl, max_drawdown, "
                      "turnover_ratio, cost_bps, sharpe, regime_label) FROM STDIN") as copy:
            for i, c in enumerate(body["candidates"]):
                for f in c["folds"]:
                    copy.write_row([ids[i], f["name"], f["order"], f["train_start"], f["train_end"], f["test_start"],
                                    f["test_end"], f["decision_count"], f["trade_count"], f["gross_pnl"],
                                    f["net_pnl"], f["max_drawdown"], f["turnover_ratio"], f["cost_bps"],
                                    f["sharpe"], f["regime_label"]])
        with raw.copy("COPY research_stress_metrics (candidate_id, stress_case, net_pnl, max_drawdown, "
                      "pessimistic_pnl_delta) FROM STDIN") as copy:
            for i, c in enumerate(body["candidates"]):
                for s in c["stress"]:
                    copy.write_row([ids[i], s["case"], s["net_pnl"], s["max_drawdown"], s["pessimistic_pnl_delta"]])


def bench_ingest() -> None:
    from rest_framework.test import APIClient

    from access.services import principal_create

    token = principal_create(name="bench-agent", roles=["agent"]).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    counter = iter(range(10_000))
    warm = _artifact("bench-warm")
    assert client.post("/api/v1/research/runs", warm, format="json").status_code == 201
    bodies = [_artifact(f"bench-ingest-{i}") for i in range(8)]

    def api_once():
        body = bodies[next(counter)]
        response = client.post("/api/v1/research/runs", body, format="json")
        assert response.status_code == 201, response.content[:300]

    api_median, api_best = timed(api_once, repeat=7, warmup=0)
    copy_counter = iter(range(10_000))
    copy_median, copy_best = timed(lambda: _copy_same_rows(warm, next(copy_counter)), repeat=7, warmup=1)
    rows = 1 + 50 + 50 * 40 + 50 * 4
    print(f"ingest via API, {rows} rows (50 candidates × 40 folds × 4 stress): median {api_median:.1f} ms, "
          f"best {api_best:.1f} ms — target < 500 ms: {verdict(api_median, 500)}")
    print(f"same rows via psycopg COPY: median {copy_median:.1f} ms")
    print(f"ratio API / COPY: {api_median / copy_median:.2f}× (aim < 3×)")


def _seed_runs(n: int) -> None:
    """Insert ``n`` small runs (1 candidate, 2 folds each) set-based in SQL."""
    from django.db import connection

    from tests.ledger.factories import ArtifactFactory, CandidateArtifactFactory, RunFactory, folds

    RunFactory(body=ArtifactFactory(run_id="seed-template",
                                    candidates=[CandidateArtifactFactory(candidate_id="seed-c", folds=folds(2))]))
    with connection.cursor() as c:
        c.execute("""
            INSERT INTO research_runs (run_id, schema_version, status, strategy_id, strategy_name, strategy_type,
                strategy_version, code_commit, runner_version, dataset_id, dataset_version, dataset_from, dataset_to,
                dataset_snapshot_ref, dataset_symbols, feature_snapshot_id, feature_schema_version,
                feature_spec_hash, artifact_sha256, artifact, created_by, created_at)
            SELECT 'seed-' || g, schema_version, (ARRAY['passed','failed','skipped'])[1 + g %% 3], strategy_id,
                   (ARRAY['macd_rsi','tsmom'])[1 + g %% 2], strategy_type, strategy_version, code_commit,
                   runner_version, dataset_id, dataset_version, dataset_from, dataset_to, dataset_snapshot_ref,
                   dataset_symbols, feature_snapshot_id, feature_schema_version, feature_spec_hash,
                   md5(g::text) || md5((g+1)::text), artifact, created_by, now() - (g || ' seconds')::interval
            FROM research_runs t, generate_series(1, %s) g WHERE t.run_id = 'seed-template'""", [n - 1])
        c.execute("""
            INSERT INTO research_candidates (run_id, candidate_id, candidate_hash, position, parameter_set,
                decision_count, trade_count, symbols_covered)
            SELECT r.id, 'cand-' || r.run_id, t.candidate_hash, 0, t.parameter_set, t.decision_count,
                   t.trade_count, t.symbols_covered
            FROM research_runs r, research_candidates t WHERE r.run_id LIKE 'seed-%%' AND r.run_id <> 'seed-template'
              AND t.candidate_id = 'seed-c'""")
        c.execute("""
            INSERT INTO research_fold_metrics (candidate_id, fold_name, fold_order, train_start, train_end,
                test_start, test_end, decision_count, trade_count, gross_pnl, net_pnl, max_drawdown, turnover_ratio,
                cost_bps, sharpe, regime_label)
            SELECT c.id, f.fold_name, f.fold_order, f.train_start, f.train_end, f.test_start, f.test_end,
                   f.decision_count, f.trade_count, f.gross_pnl, f.net_pnl, f.max_drawdown, f.turnover_ratio,
                   f.cost_bps, f.sharpe, f.regime_label
            FROM research_candidates c, research_fold_metrics f JOIN research_candidates t ON t.id = f.candidate_id
            WHERE t.candidate_id = 'seed-c' AND c.candidate_id LIKE 'cand-seed-%%'""")
        # the runs list's figures, spread so that sorting and filtering on them does real work
        c.execute("""
            INSERT INTO research_run_summaries (run_id, best_candidate_id, candidate_count, fold_count, net_pnl,
                sharpe, max_drawdown, deflated_sharpe, pbo, selection_policy, selection_note, computed_at)
            SELECT r.id, c.id, 1, 2, round((random() * 2000 - 1000)::numeric, 2),
                   round((random() * 6 - 2)::numeric, 4), round((random() * 500)::numeric, 2),
                   CASE WHEN r.id % 4 = 0 THEN NULL ELSE random() END,
                   CASE WHEN r.id % 4 = 0 THEN NULL ELSE random() END, 'v4-gates-1', '', now()
            FROM research_runs r JOIN research_candidates c ON c.run_id = r.id
            WHERE r.run_id LIKE 'seed-%' AND r.run_id <> 'seed-template'""")
        c.execute("ANALYZE")


def bench_list(n: int = 100_000) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from rest_framework.test import APIClient

    from access.services import principal_create
    from ledger.models import ResearchRun

    print(f"seeding {n} runs…", flush=True)
    _seed_runs(n)
    print(f"runs stored: {ResearchRun.objects.count()}")
    token = principal_create(name="bench-reader", roles=["auditor"]).token
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    page = Client()
    page.force_login(get_user_model().objects.create_user("bench-viewer", password="x-bench-123456"))
    cases = [
        ("API  /api/v1/research/runs?limit=100", lambda: api.get("/api/v1/research/runs", {"limit": 100})),
        ("API  /api/v1/research/runs?limit=500", lambda: api.get("/api/v1/research/runs", {"limit": 500})),
        ("API  ?strategy=tsmom&status=passed&limit=100",
         lambda: api.get("/api/v1/research/runs", {"strategy": "tsmom", "status": "passed", "limit": 100})),
        ("page /research/", lambda: page.get("/research/")),
        ("page /research/?strategy=tsmom&status=failed", lambda: page.get("/research/", {"strategy": "tsmom",
                                                                                        "status": "failed"})),
        ("page /research/?sort=-sharpe", lambda: page.get("/research/", {"sort": "-sharpe"})),
        ("page /research/?sort=pbo&deflated_sharpe_min=0.5",
         lambda: page.get("/research/", {"sort": "pbo", "deflated_sharpe_min": "0.5"})),
        ("page /research/?sort=-net_pnl&page=1000", lambda: page.get("/research/", {"sort": "-net_pnl",
                                                                                   "page": "1000"})),
    ]
    for label, fn in cases:
        queries = []
        with connection.execute_wrapper(lambda execute, sql, *a, log=queries: log.append(sql) or execute(sql, *a)):
            response = fn()
        assert response.status_code == 200, response.status_code
        median, best = timed(fn, repeat=7)
        print(f"{label:50s} median {median:6.1f} ms  best {best:6.1f} ms  queries {len(queries):2d}"
              f"  — target < 100 ms: {verdict(median, 100)}")


def main() -> int:
    with bench_database():
        bench_ingest()
        bench_list()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
