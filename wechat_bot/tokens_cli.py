"""`wechat-bot tokens …`: the stored users and their tokens, and the account's token (part of cli.py's tree)."""
from __future__ import annotations

import json
import time

import click

from .cli_support import command_services as _services
from .cli_support import one_line_failures
from .errors import WeChatBotError


@click.group(help="The stored users and their tokens.")
def tokens() -> None:
    pass


@tokens.command("list", help="Every stored user and their token state.")
@click.option("--status", type=click.Choice(("active", "expiring", "reauth_required")))
@click.option("--json", "as_json", is_flag=True)
@one_line_failures
def tokens_list(status: str | None = None, as_json: bool = False) -> int:
    from .oauth import report

    services, now = _services(), time.time()
    rows = [report.describe(r, now) for r in report.all_records(services.redis, services.tokens)]
    rows = sorted((row for row in rows if not status or row["status"] == status), key=lambda row: row["openid"])
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return 0
    for row in rows:
        click.echo(f"{row['openid']}  {row['status']:<15} {row['scope']:<16} "
                   f"access {_left(row['access_token_expires_at'], now)}  "
                   f"refresh {_left(row['refresh_token_expires_at'], now)}")
    click.echo(f"{len(rows)} user(s)")
    return 0


def _record(services, openid: str):
    record = services.tokens.get(openid)
    if record is None:
        raise WeChatBotError(f"no tokens stored for {openid}")
    return record


@tokens.command("account", help="The account's access_token, the one every process and the token service share; "
                "masked unless --reveal.")
@click.option("--reveal", is_flag=True)
@one_line_failures
def tokens_account(reveal: bool = False) -> int:
    from .oauth.report import mask

    token, expires_at = _services().account_token.current()
    click.echo(f"access_token: {token if reveal else mask(token)}")
    click.echo(f"expires_at: {int(expires_at)} ({_left(int(expires_at), time.time())} left)")
    return 0


@tokens.command("show", help="One user's record; secrets masked unless --reveal.")
@click.argument("openid")
@click.option("--json", "as_json", is_flag=True)
@click.option("--reveal", is_flag=True)
@one_line_failures
def tokens_show(openid: str, as_json: bool = False, reveal: bool = False) -> int:
    from .oauth import report

    services = _services()
    row = report.describe(_record(services, openid), time.time(), reveal=reveal)
    click.echo(json.dumps(row, ensure_ascii=False) if as_json else "\n".join(f"{k}: {v}" for k, v in row.items()))
    return 0


@tokens.command("refresh", help="Renew this user's access_token now.")
@click.argument("openid")
@one_line_failures
def tokens_refresh(openid: str) -> int:
    services = _services()
    _record(services, openid)
    outcome = services.renewer().renew_now(openid)
    if outcome is None:
        raise WeChatBotError(f"{openid} is being renewed by a worker right now; try again in a moment")
    if outcome != "renewed":
        raise WeChatBotError(f"{openid} not renewed: {outcome}")
    click.echo(f"renewed the access_token of {openid}")
    return 0


@tokens.command("revoke", help="Forget this user's tokens.")
@click.argument("openid")
@one_line_failures
def tokens_revoke(openid: str) -> int:
    services = _services()
    _record(services, openid)
    services.tokens.delete(openid)
    click.echo(f"forgot the tokens of {openid}")
    return 0


def _left(at: int, now: float) -> str:
    seconds = int(at - now)
    if seconds <= 0:
        return "expired"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h" if seconds >= 86400 else f"{seconds // 60}m"
