"""The package's layout shows its architecture: no module imports, at load time, one that imports it back."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import project_root


def _module_imports() -> dict[str, set[str]]:
    """Each module of wechat_bot and the modules of wechat_bot it imports at module level."""
    root = project_root()
    modules = {}
    for path in (root / "wechat_bot").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                source = ".".join(base + [node.module] if node.module else base)
                for alias in node.names:
                    found = next((c for c in (f"{source}.{alias.name}", source) if c in modules), None)
                    if found and found != name:
                        graph[name].add(found)
            elif isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names if alias.name in modules)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        for target in sorted(graph[node]):
            if target in path:
                return path[path.index(target):] + [target]
            if target not in done:
                found = visit(target, path + [target])
                if found:
                    return found
        done.add(node)
        return None

    return next((found for name in sorted(graph) if (found := visit(name, [name]))), None)


def test_no_module_of_the_package_imports_one_that_imports_it_back():
    graph = _module_imports()
    assert len(graph) > 100 and graph["wechat_bot.cli"]  # the walk read the package
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_walk_finds_a_circle_when_there_is_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_cli_and_its_tokens_commands_import_one_way():
    graph = _module_imports()
    assert "wechat_bot.tokens_cli" in graph["wechat_bot.cli"] and "wechat_bot.cli" not in graph["wechat_bot.tokens_cli"]
    assert Path(project_root() / "wechat_bot" / "cli_support.py").is_file()
