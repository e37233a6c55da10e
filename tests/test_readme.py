"""The docs say only what is true: the architecture page's file table (docs/architecture.md, "文件一览", moved there
from the README's Layout section) names every module and template in the tree, and every file it names exists."""
from __future__ import annotations

import re

from tests.conftest import project_root

ROOT = project_root()


def layout_section() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    start = text.index("## 文件一览")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def tree_files() -> set[str]:
    found = set()
    for folder in ("wechat_bot", "bench", "examples", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".html") and "__pycache__" not in path.parts and path.name != "__init__.py":
                found.add(path.name)
    return found


def test_the_layout_table_names_every_module_and_template():
    named = set(re.findall(r"([\w.]+\.(?:py|html))", layout_section()))
    missing = sorted(tree_files() - named)
    assert not missing, f"docs/architecture.md's file table leaves out {missing}"


def test_every_file_the_layout_table_names_exists():
    named = set(re.findall(r"([\w.]+\.(?:py|html))", layout_section())) - {"__init__.py"}
    top_level = {path.name for path in ROOT.iterdir()}
    stale = sorted(name for name in named if name not in tree_files() and name not in top_level)
    assert not stale, f"docs/architecture.md's file table names files that do not exist: {stale}"
