"""Writes about principals (roles, tokens, per-strategy grants), login throttling and the audit
trail. Each service that changes access writes its audit row in the same transaction."""
from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm
from knox.models import AuthToken

from access.choices import Outcome, Via
from access.context import current_request_id, new_request_id
from access.models import AuditEvent, LoginFailure
from access.roles import Role
from access.selectors import PERM_ROLE, StrategyPerm, user_roles
from core.chain import CHAIN_FIELDS
from core.jsonparse import printable
from strategies.models import Strategy

logger = logging.getLogger(__name__)


def command_actor() -> str:
    """The actor recorded for management commands: the operating-system user running them."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return "cli:unknown"


# --- Audit ----------------------------------------------------------------------------------

_AUDIT_INSERT_SQL: dict[bool, str] = {}


def audit_record(*, actor: str, via: str, action: str, outcome: str = Outcome.OK,
                 actor_roles: list[str] | tuple[str, ...] | frozenset[str] = (), method: str = "",
                 path: str = "", object_ref: str = "", request_id: str | None = None,
                 status_code: int | None = None, client_ip: str | None = None,
                 details: dict[str, Any] | None = None, after_commit_flush: bool = True) -> AuditEvent:
    """Append one audit row. Commands and workers call this directly (``via="command"`` /
    ``via="worker"``, actor ``"system:<worker>"``); the middleware calls it for every
    state-changing request.

    ``after_commit_flush=False`` (the middleware's row, written on its own after the response is built):
    outside a transaction, the row's one-statement transaction commits without waiting for the WAL flush
    (``synchronous_commit`` off for it alone). The hash chain's lock is held from the insert to the commit,
    so a commit that waits for the disk would make every concurrent request wait for it too; a crash can
    lose the last such rows (never a gap in the chain: they are its tail), as a crash before the
    middleware wrote them would. Inside a transaction the setting is never touched."""
    event = AuditEvent(
        actor=_text(actor or "anonymous")[:150], actor_roles=sorted(actor_roles), via=Via(via),
        method=_text(method)[:10], path=_text(path)[:500], action=_text(action)[:200],
        object_ref=_text(str(object_ref))[:300],
        request_id=request_id or current_request_id() or new_request_id(), outcome=Outcome(outcome),
        status_code=status_code, client_ip=client_ip or None, details=_storable(details or {}),
    )
    _audit_insert(event, wait_for_flush=after_commit_flush or connection.in_atomic_block)
    return event


def _text(value: str) -> str:
    """Text PostgreSQL can store: a refusal of a body holding NUL or a lone surrogate (in a path,
    a key or a value) must still leave its audit row, so those are written as escapes."""
    return value if value.isascii() and "\x00" not in value else printable(value)


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def _audit_insert(event: AuditEvent, *, wait_for_flush: bool = True) -> None:
    """INSERT one audit row with a fixed statement (it runs on every state-changing request; the
    ORM's per-call SQL compilation was a visible share of the order hot path). Without
    ``wait_for_flush`` the statement itself sets ``synchronous_commit`` off for its own transaction
    (``set_config(..., true)`` around the first value: one round trip, as the other)."""
    fields = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key and f.name not in CHAIN_FIELDS]
    sql = _AUDIT_INSERT_SQL.get(wait_for_flush)
    if sql is None:
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        first = "%s" if wait_for_flush else "(SELECT %s FROM set_config('synchronous_commit', 'off', true))"
        placeholders = ", ".join([first] + ["%s"] * (len(fields) - 1))
        sql = _AUDIT_INSERT_SQL.setdefault(wait_for_flush, f"INSERT INTO {AuditEvent._meta.db_table} ({columns}) "
                                                           f"VALUES ({placeholders}) "
                                                           f"RETURNING id, {', '.join(CHAIN_FIELDS)}")
    values = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in fields]
    with connection.bound_cursor() as cursor:
        cursor.execute(sql, values)  # the chain trigger sets the id, position and hashes
        event.pk, event.chain_position, event.prev_sha256, event.row_sha256 = cursor.fetchone()
    event._state.adding = False


# --- Roles and principals -------------------------------------------------------------------

def roles_bootstrap(*, actor: str | None = None, via: str = Via.COMMAND) -> list[tuple[str, bool]]:
    """Create the role groups if missing. Idempotent; returns (role, created) pairs."""
    results = []
    with transaction.atomic():
        for role in Role.values:
            _, created = Group.objects.get_or_create(name=role)
            results.append((role, created))
        if actor is not None:
            audit_record(actor=actor, via=via, action="roles_bootstrap",
                         details={"created": [r for r, c in results if c]})
    return results


@dataclass(frozen=True)
class PrincipalResult:
    username: str
    created: bool
    roles: tuple[str, ...]
    token: str
    token_key: str
    strategies: tuple[tuple[str, str], ...] = ()


def principal_create(*, name: str, roles: list[str], strategies: list[str] | None = None,
                     expires_in: timedelta | None = None, actor: str | None = None,
                     via: str = Via.COMMAND) -> PrincipalResult:
    """Create a user (or add roles to an existing one) and issue a fresh API token.

    ``strategies`` narrows the principal's approver/operator rights: for each named strategy
    (it must be known: recorded by a research run) an approver gets ``approve_promotions`` and an operator gets
    ``operate_strategy`` on that strategy only. The token is returned once; only its hash is
    stored.
    """
    unknown = sorted(set(roles) - set(Role.values))
    if unknown:
        raise ValueError(f"Unknown role(s): {', '.join(unknown)}. Known: {', '.join(Role.values)}.")
    if not roles:
        raise ValueError("At least one --role is required.")
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValueError("A token lifetime must be positive.")
    User = get_user_model()
    with transaction.atomic():
        roles_bootstrap()
        user, created = User.objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        held_before = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        wanted = held_before | set(roles)
        if Role.AGENT in wanted and Role.APPROVER in wanted:
            raise ValueError("An agent can never approve: a principal cannot hold both agent and approver.")
        user.groups.add(*Group.objects.filter(name__in=roles))
        user.__dict__.pop("_torghut_roles", None)
        granted: list[tuple[str, str]] = []
        for strategy_name in strategies or []:
            for perm, role in PERM_ROLE.items():
                if role in wanted:
                    strategy_grant(user=user, strategy_name=strategy_name, perm=perm)
                    granted.append((strategy_name, perm))
        if strategies and not granted:
            raise ValueError("--strategy narrows approver or operator rights; give one of those roles.")
        instance, token = AuthToken.objects.create(user=user, expiry=expires_in)
        held = tuple(sorted(wanted))
        audit_record(actor=actor or command_actor(), via=via, action="principal_create",
                     object_ref=f"user:{user.username}",
                     details={"created": created, "roles": list(held), "added_roles": sorted(set(roles) - held_before),
                              "strategies": [f"{s}:{p}" for s, p in granted], "token_key": instance.token_key,
                              "expiry": instance.expiry.isoformat() if instance.expiry else None})
    return PrincipalResult(username=user.username, created=created, roles=held, token=token,
                           token_key=instance.token_key, strategies=tuple(granted))


def strategy_grant(*, user, strategy_name: str, perm: str) -> Strategy:
    """Grant ``perm`` (approve_promotions | operate_strategy) on one known strategy. Idempotent.

    Strategies are registered by research runs only; a grant on a name no run has recorded is
    refused (a typo would otherwise create a strategy nobody trades)."""
    if perm not in (StrategyPerm.APPROVE, StrategyPerm.OPERATE):
        raise ValueError(f"Unknown strategy permission {perm!r}.")
    name = strategy_name.strip()
    strategy = Strategy.objects.filter(name=name).first()
    if strategy is None:
        known = ", ".join(Strategy.objects.order_by("name").values_list("name", flat=True)[:20]) or "none yet"
        raise ValueError(f"Unknown strategy {name!r}: a strategy is known once a research run names it "
                         f"(known: {known}).")
    assign_perm(f"strategies.{perm}", user, strategy)
    return strategy


def strategy_revoke(*, user, strategy_name: str, perm: str, actor: str, via: str = Via.COMMAND) -> bool:
    with transaction.atomic():
        strategy = Strategy.objects.filter(name=strategy_name).first()
        removed = bool(strategy) and remove_perm(f"strategies.{perm}", user, strategy) is not None
        audit_record(actor=actor, via=via, action="strategy_revoke",
                     object_ref=f"strategy:{strategy_name}", details={"user": user.username, "perm": perm})
    return removed


def strategy_grant_audited(*, username: str, strategy_name: str, perm: str, actor: str,
                           via: str = Via.COMMAND) -> Strategy:
    """Grant a strategy permission to an existing principal holding the matching role."""
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.get(username=username)
        role = PERM_ROLE[perm]
        if role not in user_roles(user):
            raise ValueError(f"{username} does not hold the {role} role that {perm} narrows.")
        strategy = strategy_grant(user=user, strategy_name=strategy_name, perm=perm)
        audit_record(actor=actor, via=via, action="strategy_grant", object_ref=f"strategy:{strategy.name}",
                     details={"user": username, "perm": perm})
    return strategy


# --- Tokens ---------------------------------------------------------------------------------

def token_revoke(*, username: str, token_key: str | None = None, revoke_all: bool = False,
                 actor: str, via: str = Via.COMMAND) -> int:
    """Delete a principal's token(s) by their non-secret key prefix, or all of them."""
    if not token_key and not revoke_all:
        raise ValueError("Name a token key (see list_tokens) or revoke all.")
    with transaction.atomic():
        qs = AuthToken.objects.filter(user__username=username)
        if not revoke_all:
            qs = qs.filter(token_key=token_key)
        keys = list(qs.values_list("token_key", flat=True))
        count, _ = qs.delete()
        audit_record(actor=actor, via=via, action="token_revoke", object_ref=f"user:{username}",
                     details={"token_keys": keys, "all": revoke_all})
    return len(keys)


def tokens_purge_expired() -> int:
    """Delete every expired API token (authentication refuses them anyway); returns how many."""
    count, _ = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return count


def token_touch(*, token: AuthToken, min_interval_seconds: int = 60) -> None:
    """Stamp a token's last-used time, at most once per ``min_interval_seconds``."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO access_token_usage (token_digest, last_used_at) VALUES (%s, %s) "
            "ON CONFLICT (token_digest) DO UPDATE SET last_used_at = EXCLUDED.last_used_at "
            "WHERE access_token_usage.last_used_at < EXCLUDED.last_used_at - make_interval(secs => %s)",
            [token.digest, now, min_interval_seconds],
        )


# --- Failed logins --------------------------------------------------------------------------

def _login_window() -> timedelta:
    return timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def login_locked_out(*, username: str, ip: str | None) -> bool:
    since = timezone.now() - _login_window()
    recent = LoginFailure.objects.filter(username=username.lower(), ip=ip, at__gte=since).count()
    return recent >= settings.LOGIN_FAILURE_LIMIT


def login_failure_record(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username.lower()[:150], ip=ip)
    # Keep the table small: failures older than the window no longer count.
    LoginFailure.objects.filter(at__lt=timezone.now() - 4 * _login_window()).delete()


def login_failures_clear(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.filter(username=username.lower(), ip=ip).delete()
