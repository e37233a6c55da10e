"""`python -m wechat_bot.startup_check`: the standalone server's settings, checked before gunicorn starts its
workers; one line on standard error and exit status 4 when they are missing or malformed."""
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
