"""wechat_bot's command line: `python run.py --help`."""
import sys

from wechat_bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
