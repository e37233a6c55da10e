"""`python -m wechat_bot.startup_check`: the standalone server's settings, checked before gunicorn starts its
workers; one line on standard error and exit status 4 when they are missing or malformed. Then what earlier
versions wrote to Redis is moved under the account (migration.py), here where no worker timeout runs."""
import sys

from .config import Settings
from .errors import ConfigError


def main() -> int:
    try:
        settings = Settings.load()
        if settings.missing_credentials:
            raise settings.missing_credentials_error()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 4
    from .storage import connection as redis_connection
    from .storage.migration import adopt_legacy_keys

    adopt_legacy_keys(redis_connection.connect(settings), settings.account.appid, may_claim=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
