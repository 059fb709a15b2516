"""``taskq dashboard``: serve the web dashboard (the ``dashboard`` extra)."""

from __future__ import annotations

import click

from taskq_core.cli.common import broker_options, load_app, one_line_errors, rebind, resolve_broker

#: Environment variables the dashboard's secrets may come from (so they stay out of ``ps``).
DASHBOARD_TOKEN_ENV = "TASKQ_DASHBOARD_TOKEN"
DASHBOARD_BASIC_AUTH_ENV = "TASKQ_DASHBOARD_BASIC_AUTH"


@click.command()
@broker_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=5555,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--auth-token",
    envvar=DASHBOARD_TOKEN_ENV,
    show_envvar=True,
    help="Bearer token every request must present (a browser: open /?token=... once).",
)
@click.option(
    "--basic-auth",
    metavar="USER:PASSWORD",
    envvar=DASHBOARD_BASIC_AUTH_ENV,
    show_envvar=True,
    help="HTTP basic-auth credentials every request must present.",
)
def dashboard(
    broker: str | None,
    app_spec: str | None,
    host: str,
    port: int,
    auth_token: str | None,
    basic_auth: str | None,
) -> None:
    """Serve the web dashboard (needs the extra: pip install 'taskq-core[dashboard]').

    Listens on 127.0.0.1 unless --host is given; any other address needs --auth-token or
    --basic-auth.
    """
    try:
        from taskq_core.dashboard import Credentials, check_bind, serve
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"taskq dashboard needs {exc.name}: pip install 'taskq-core[dashboard]'"
        ) from None
    with one_line_errors():
        credentials = Credentials.parse(auth_token, basic_auth)
        check_bind(host, credentials)
        # With -A the app's periodic schedules are shown too (they live in its code).
        app = load_app(app_spec) if app_spec else None
        if app is not None and broker:
            rebind(app, broker)
        backend = app.broker if app is not None else resolve_broker(broker, None)
        periodic = None if app is None else list(app.periodic_schedules.values())
        if not backend.cross_process:
            click.echo(
                f"note: {type(backend).__name__} is in-process; the dashboard shows only what "
                "this process sends to it",
                err=True,
            )
        serve(backend, host=host, port=port, credentials=credentials, periodic=periodic)
