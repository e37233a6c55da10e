"""What a newcomer meets in the first ten minutes: chat behaviour against real pushes, the sandbox WeChat's
fidelity, and commands that answer in one line."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import processes
from tests.conftest import APPID, TOKEN, project_root
from wechat_bot.handlers.default import HELP_TEXT, WELCOME_TEXT


def test_a_file_message_gets_the_help_text(wechat):
    fields = wechat.fields("file", Title="报告.pdf", Description="", FileKey="k", FileMd5="m", FileTotalLen="10")
    assert wechat.deliver(fields).content == HELP_TEXT


@pytest.mark.parametrize("key", ["scanbarcode|EAN_13|6901234567892", "scanimage|abc", "", "last_trade_no_1"])
def test_every_follow_gets_the_welcome(wechat, key):
    assert wechat.event("subscribe", key=key).content.startswith(WELCOME_TEXT)
