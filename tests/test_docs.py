"""Every Python block of the documentation site (docs/**/*.md) is checked, as the README's are: each compiles and
names nothing it neither defines nor imports; each runs, here or in the test its marker names.

A block is marked on the line just before its fence, with a MyST comment (not rendered):
- `% runs-in: tests/test_x.py`: that test runs it as written (it reads this page); the test must exist and name
  the page;
- `% compile-only: why`: it cannot run alone (it needs credentials, a server, a site's folder), so it is compiled
  and its names checked only;
- no marker: it runs here, in a module of its own, in an empty folder with no WeChat credentials.
The pages also name what they must: every setting, and every public name of the package."""
from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

from tests.conftest import project_root
from tests.test_readme_blocks import undefined_names

ROOT = project_root()
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def pages() -> list[Path]:
    return sorted(path for path in DOCS.rglob("*.md") if "_build" not in path.parts)


def python_blocks() -> list[tuple[str, int, str, str]]:
    """(page, line, marker, code) for every ```python block under docs/."""
    found = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = before if before.startswith("% ") else ""
            found.append((str(page.relative_to(ROOT)), text.count("\n", 0, match.start()) + 2, marker,
                          match.group(1)))
    return found


BLOCKS = python_blocks()
IDS = [f"{page}:{line}" for page, line, _, _ in BLOCKS]


def test_the_docs_have_python_blocks_and_find_them_all():
    assert len(BLOCKS) >= 8
    fences = sum(page.read_text(encoding="utf-8").count("```python\n") for page in pages())
    assert fences == len(BLOCKS)


@pytest.mark.parametrize("page, line, marker, code", BLOCKS, ids=IDS)
def test_every_python_block_compiles_and_names_only_what_it_defines(page, line, marker, code):
    compile(code, f"{page}:{line}", "exec")
    assert not undefined_names(code), f"{page} line {line}: undefined {sorted(undefined_names(code))}"
    assert not marker or re.match(r"% (runs-in: tests/\w+\.py|compile-only: \S.*)$", marker), \
        f"{page} line {line}: unknown marker {marker!r}"


@pytest.mark.parametrize("page, line, marker, code",
                         [block for block in BLOCKS if block[2].startswith("% runs-in:")],
                         ids=[i for i, block in zip(IDS, BLOCKS, strict=True) if block[2].startswith("% runs-in:")])
def test_a_block_run_elsewhere_is_run_by_a_test_that_reads_its_page(page, line, marker, code):
    test = ROOT / marker.split(":", 1)[1].strip()
    assert test.is_file(), f"{page} line {line}: {test} does not exist"
    assert page in test.read_text(encoding="utf-8"), f"{test.name} does not read {page}"


@pytest.mark.parametrize("page, line, marker, code", [block for block in BLOCKS if not block[2]],
                         ids=[i for i, block in zip(IDS, BLOCKS, strict=True) if not block[2]])
def test_every_unmarked_block_runs_as_written(page, line, marker, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    module = types.ModuleType(f"docs_block_{line}")
    exec(compile(code, f"{page}:{line}", "exec"), module.__dict__)
    assert not (tmp_path / "var").exists(), f"{page} line {line} left ./var/ behind"


def test_the_configuration_page_names_every_setting():
    from wechat_bot.config import NAMES

    text = (DOCS / "ops" / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in NAMES if f"| `{name}` |" not in text]
    assert not missing, f"docs/ops/configuration.md leaves out {missing}"


def test_the_api_reference_documents_every_public_name():
    import wechat_bot

    text = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. auto\w+:: ([\w.]+)", text, re.M))
    documented |= {name for line in re.findall(r"^   :members: (.*)$", text, re.M) for name in line.split(", ")}
    short = {name.rsplit(".", 1)[-1] for name in documented}
    missing = sorted(name for name in wechat_bot.__all__ if name not in short and name != "__version__")
    assert not missing, f"docs/api.md documents no {missing}"
    for also in ("WeChatUser", "to_reply", "news_reply", "on_authorized", "create_app", "Settings"):
        assert also in short, also


def test_the_readmes_links_into_the_docs_lead_to_pages_that_exist_and_the_site_builds_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = set(re.findall(r"\]\(((?:docs/|CHANGES)[^)#]*)\)", readme))
    assert len(links) >= 20
    missing = sorted(link for link in links if not (ROOT / link).exists())
    assert not missing, f"README.md links to {missing}"
    toctrees = "".join(page.read_text(encoding="utf-8") for page in pages())
    for link in links:
        if link.endswith(".md") and link.startswith("docs/"):
            page = Path(link).relative_to("docs")
            assert page.stem in toctrees or page.name == "index.md", f"{link} is in no toctree"


def test_the_readme_is_a_front_page_that_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200
    assert lines[3].startswith("python3 -m venv .venv && .venv/bin/pip install -r requirements.txt")
    assert lines[4].startswith("python3 -m venv .venv && .venv/bin/pip install -r requirements-test.txt")
    assert "python -m sphinx -W --keep-going -b html docs docs/_build/html" in "\n".join(lines)
    assert "requirements-docs.txt" in "\n".join(lines)
