"""Sphinx settings for wechat_bot's documentation (Chinese; API names and settings kept in English)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import wechat_bot  # noqa: E402

project = "wechat_bot"
author = "wechat_bot 开发团队"
copyright = "2026, wechat_bot 开发团队"  # noqa: A001
release = version = wechat_bot.__version__
language = "zh_CN"

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "screenshots", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}

html_theme = "furo"
html_title = f"wechat_bot {release}"
html_static_path: list[str] = []
html_search_language = "zh"
