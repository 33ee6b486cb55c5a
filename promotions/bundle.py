"""The evidence bundle of a promotion, and its verification — pure, no database.

A bundle is one JSON document: the policy (version, sha256, document), every ledger row the
evaluation read plus the operational evidence it saw, the signed evaluation artifact, the signed
and chained decisions, and the public keys. :func:`verify` recomputes everything from the bundle
alone (``manage.py verify_evidence FILE`` runs it with no database) and names each thing that
does not hold.
"""
from __future__ import annotations

from typing import Any

from core.canonical import content_sha256
from promotions import gates, signing

BUNDLE_SCHEMA = "torghut.evidence-bundle/v1"


def verify(bundle: Any) -> list[str]:
    """Every problem found, in words naming what broke; empty when every hash and signature holds."""
    return verify_and_replay(bundle)[0]


def verify_and_replay(bundle: Any) -> tuple[list[str], dict]:
    """(problems, the artifact recomputed from the bundle — ``{}`` when it cannot be)."""
    if not isinstance(bundle, dict) or bundle.get("schema_version") != BUNDLE_SCHEMA:
        return [f"not a {BUNDLE_SCHEMA} document"], {}
    problems: list[str] = []
    try:
        policy, inputs, evaluation = bundle["policy"], bundle["inputs"], bundle["evaluation"]
        artifact, decisions = evaluation["artifact"], bundle["decisions"]
        keys = {k["key_id"]: k for k in bundle["keys"]}
    except (KeyError, TypeError) as exc:
        return [f"the bundle lacks {exc}"], {}

    if content_sha256(policy["document"]) != policy["sha256"]:
        problems.append(f"policy {policy['version']}: its document does not hash to its sha256")
    if artifact.get("policy_sha256") != policy["sha256"] or artifact.get("policy_version") != policy["version"]:
        problems.append("evaluation artifact: names another policy version or sha256 than the bundle's policy")

    try:
        hashes = gates.row_hashes(inputs)
    except (KeyError, TypeError) as exc:
        hashes = {}
        problems.append(f"inputs: malformed ({exc})")
    recorded = artifact.get("inputs", {})
    for key in sorted(set(recorded) | set(hashes)):
        if key not in hashes:
            problems.append(f"{key}: read by the evaluation, missing from the bundle")
        elif key not in recorded:
            problems.append(f"{key}: in the bundle, not read by the evaluation")
        elif hashes[key] != recorded[key]:
            problems.append(f"{key}: does not hash to what the evaluation recorded (the row changed)")

    if content_sha256(artifact) != evaluation.get("artifact_sha256"):
        problems.append("evaluation artifact: does not hash to its artifact_sha256")
    problems += _signature("evaluation artifact", artifact, evaluation.get("signature"), evaluation.get("key_id"),
                           keys)
    replayed: dict = {}
    if hashes and not any("malformed" in p for p in problems):
        try:
            replayed = gates.build_artifact(target=artifact["target"], inputs=inputs, policy=policy["document"],
                                            policy_sha256=policy["sha256"], evaluated_at=artifact["evaluated_at"])
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            problems.append(f"evaluation: cannot be recomputed from the bundle ({exc.__class__.__name__}: {exc})")
        else:
            problems += [f"evaluation: {m}" for m in artifact_differences(artifact, replayed)]

    previous = ""
    for index, decision in enumerate(decisions):
        doc = decision.get("document", {})
        name = f"decision {index + 1} ({doc.get('action', '?')} by {doc.get('actor', '?')})"
        if content_sha256(doc) != decision.get("decision_sha256"):
            problems.append(f"{name}: does not hash to its decision_sha256")
        if doc.get("previous_sha256") != previous:
            problems.append(f"{name}: breaks the chain (previous_sha256 is not the decision before it)")
        if doc.get("evaluation_sha256") != evaluation.get("artifact_sha256"):
            problems.append(f"{name}: rests on another evaluation than the bundle's")
        problems += _signature(name, doc, decision.get("signature"), decision.get("key_id"), keys)
        previous = decision.get("decision_sha256", "")
    return problems, replayed


def _signature(name: str, document: dict, signature: str | None, key_id: str | None, keys: dict) -> list[str]:
    key = keys.get(key_id or "")
    if key is None:
        return [f"{name}: signed by unknown key {key_id}"]
    if key.get("status") == "revoked":
        return [f"{name}: signed by revoked key {key_id}"]
    if not signing.verify(key["public_key"], document, signature or ""):
        return [f"{name}: the signature by {key_id} does not verify"]
    return []


def artifact_differences(original: dict, replayed: dict) -> list[str]:
    """What a recomputation changed, gate by gate, in words."""
    out = []
    if original.get("allowed") != replayed.get("allowed"):
        out.append(f"allowed was {original.get('allowed')}, recomputed {replayed.get('allowed')}")
    before = {g["gate_id"]: g for g in original.get("gates", [])}
    for gate in replayed.get("gates", []):
        old = before.pop(gate["gate_id"], None)
        if old is None:
            out.append(f"{gate['gate_id']}: not in the stored artifact")
        elif old != gate:
            changed = sorted(k for k in set(old["observed"]) | set(gate["observed"])
                             if old["observed"].get(k) != gate["observed"].get(k))
            out.append(f"{gate['gate_id']}: stored {old['status']}, recomputed {gate['status']}"
                       + (f" (observed {', '.join(changed)} differ)" if changed else ""))
    out += [f"{gate_id}: in the stored artifact, not recomputed" for gate_id in before]
    if not out and original != replayed:
        out.append("the recomputed artifact differs from the stored one")
    return out
