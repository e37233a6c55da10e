"""wechat_bot's one command tree, in click: `wechat-bot`, `python run.py`, `python -m wechat_bot`, and (the same
group added to the site's `app.cli`) `flask --app SITE wechat`. Each command parses, calls one library function,
prints one line; a failure is one line on standard error and a non-zero exit status."""
from __future__ import annotations

import json
import os
import sys

import click

from .cli_support import Port, one_line_failures, under_flask, where_redis
from .cli_support import command_services as _services
from .storage.connection import probe
from .tokens_cli import tokens

HELP = """wechat_bot: a WeChat official-account server.

With no WeChat credentials (WECHAT_TOKEN, WECHAT_APPID, WECHAT_SECRET) the commands use the sandbox account."""
FLASK_EPILOG = ("Under Flask the site serves with `flask run` (the sandbox beside it when no credentials are set), "
                "or `wechat-bot serve --app SITE:app`; these commands act on the site's app.")


class Commands(click.Group):
    """One group for every entry point; `serve` and the bare `--host/--port` exist only where we serve."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in super().list_commands(ctx) if not (name == "serve" and under_flask(ctx))]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "serve" and under_flask(ctx):
            return None
        return super().get_command(ctx, name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] == "serve" and under_flask(ctx):
            raise click.UsageError("no command serve under Flask: " + FLASK_EPILOG.split(";")[0][len("Under Flask "):])
        return super().resolve_command(ctx, args)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        return [p for p in params if p.name not in ("host", "port")] if under_flask(ctx) else params

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if under_flask(ctx):
            formatter.write_paragraph()
            formatter.write_text(FLASK_EPILOG)


@click.group("wechat-bot", cls=Commands, help=HELP, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (no command: serve)")
@click.option("--port", type=Port(), default=5000, show_default=True, help="port to listen on (no command: serve)")
@click.pass_context
def commands(ctx: click.Context, host: str = "127.0.0.1", port: int = 5000) -> int | None:
    if ctx.invoked_subcommand is not None:
        return None
    if under_flask(ctx):
        click.echo(ctx.get_help())
        return 0
    return ctx.invoke(serve)


@commands.command(help="Serve the message endpoint and the OAuth pages (Werkzeug, threaded); with no WeChat "
                       "credentials, the sandbox beside them. Only here: a site serves with `flask run`.")
@click.option("--host", default=None, help="address to listen on  [default: 127.0.0.1]")
@click.option("--port", type=Port(), default=None, help="port to listen on  [default: 5000]")
@click.option("--no-worker", is_flag=True, help="do not run token renewal in this process")
@click.option("--sandbox-on-network", is_flag=True,
              help="let the sandbox listen on a non-loopback address (anyone there can use it)")
@click.option("--app", "site", metavar="MODULE:APP",
              help="serve your Flask site (which uses WeChatBot) instead of the standalone server; Flask's syntax: "
                   "MODULE, MODULE:APP or 'MODULE:factory()'")
@click.pass_context
@one_line_failures
def serve(ctx: click.Context, host: str | None = None, port: int | None = None, no_worker: bool = False,
          sandbox_on_network: bool = False, site: str | None = None) -> int:
    from .serving import serve_forever

    parent = ctx.parent.params if ctx.parent is not None else {}
    return serve_forever(host or parent.get("host") or "127.0.0.1", port or parent.get("port") or 5000,
                         no_worker=no_worker, sandbox_on_network=sandbox_on_network, site=site)


@commands.command(help="Run the scheduled token renewal (SIGTERM or Ctrl-C stops it after the renewals in flight).")
@click.option("--once", is_flag=True, help="one sweep of what is due, then exit")
@one_line_failures
def worker(once: bool = False) -> int:
    services = _services()
    if services.settings.metrics and not once:  # beside gunicorn's workers, in the folder a scrape sums
        from .metrics.multiprocess import prepare

        prepare()
    renewer = services.renewer()
    if once:
        # a sweep with nothing due writes nothing: a read-only Redis would pass
        problem = probe(services.redis, services.settings.account.appid)
        if problem:
            click.echo(f"error: Redis ({where_redis()}) {problem}", err=True)
            return 3
        try:
            result = renewer.sweep()
        finally:
            renewer.close()
        click.echo(f"renewed {result.renewed}, to retry {result.retried}, re-authorization needed {result.reauth}, "
                   f"skipped {result.skipped}")
        return 0
    settings = services.settings
    click.echo(f"renewal worker running: {settings.renewal_concurrency} at once, at most {settings.renewal_rate} a "
               "second (SIGTERM or Ctrl-C stops it after the renewals in flight)")
    renewer.run(install_signals=True)
    return 0


def _default_port() -> int:
    """The port the server listens on: `flask run`'s (FLASK_RUN_PORT) under Flask, else 5000."""
    value = os.environ.get("FLASK_RUN_PORT", "")
    return int(value) if value.isdigit() and 1 <= int(value) <= 65535 else 5000


@commands.command(help="Validate the configuration and print what to paste into the admin panel; "
                       "non-zero if WeChat would refuse it.")
@click.option("--port", type=Port(), default=None, help="the port the server listens on, to find its ngrok tunnel "
                                                        "[default: FLASK_RUN_PORT under Flask, else 5000]")
@click.option("--online", is_flag=True, help="also check AppID and AppSecret with WeChat")
@click.pass_context
@one_line_failures
def check(ctx: click.Context, port: int | None = None, online: bool = False) -> int:
    from .check import run_checks, sandbox_report
    from .config import Settings
    from .storage import connection as redis_connection

    if under_flask(ctx):
        services = _services()
        settings, redis = services.settings, services.redis
    else:
        services, settings = None, Settings.load()
        redis = redis_connection.connect(settings)
    if services is not None and services.sandboxed:
        report = sandbox_report("this site runs the sandbox (no WECHAT_TOKEN, WECHAT_APPID, WECHAT_SECRET in "
                                "app.config, the environment or .env): there is nothing to paste into a real account",
                                redis, settings.account.appid)
    else:
        report = run_checks(settings, redis, port=port or _default_port(), online=online)
    click.echo("\n".join(report.lines()))
    return 0 if report.ok else 1


@commands.group(help="Publish or show the account's custom menu.")
def menu() -> None:
    pass


@menu.command("show", help="Print the current menu.")
@one_line_failures
def menu_show() -> int:
    from .menu import published_menu

    shown = published_menu(_services())
    click.echo(json.dumps(shown, ensure_ascii=False, indent=2) if shown is not None
               else "no custom menu is published yet (publish one with: menu push FILE.json)")
    return 0


@menu.command("push", help="Publish the menu in FILE.json (a VIEW button may name a scope instead of a URL).")
@click.argument("file")
@click.option("--port", type=Port(), default=None, help="the server's port, to find the ngrok tunnel")
@one_line_failures
def menu_push(file: str, port: int | None = None) -> int:
    from .menu import publish

    buttons = publish(_services(), file, port or _default_port())
    click.echo(f"menu published ({buttons} top-level buttons); WeChat clients see it within 5 minutes")
    return 0


def _prog() -> str:
    invoked = os.path.basename(sys.argv[0])
    return {"run.py": "python run.py", "__main__.py": "python -m wechat_bot"}.get(invoked, "wechat-bot")


def main(argv: list[str] | None = None) -> int:
    """`wechat-bot …`, `python run.py …`, `python -m wechat_bot …`: usage mistakes are one line too."""
    prog = _prog()
    try:
        outcome = commands.main(args=argv, prog_name=prog, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as error:  # a group without its command: its help
        click.echo(error.format_message())
        return 2
    except click.UsageError as error:
        click.echo(f"{prog}: error: {error.format_message()} (see --help)", err=True)
        return 2
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        return error.exit_code
    except click.exceptions.Abort:
        return 1
    return outcome if isinstance(outcome, int) else 0


flask_group = commands  # `flask --app SITE wechat …`: the same group, added to the site's app.cli as "wechat"


commands.add_command(tokens)
