"""`python -m wechat_bot …`: the same commands as `wechat-bot` and `python run.py`."""
import sys

from .cli import main

sys.exit(main())
