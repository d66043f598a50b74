import ast
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aigc_cli"


def test_cli_import_does_not_import_tensorflow():
    code = ("import sys, aigc_cli.cli, aigc_cli.config, aigc_cli.models; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_help_and_version_are_fast():
    def seconds(*args: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, *args], capture_output=True, check=True)
        return time.perf_counter() - started

    bare = seconds("-c", "import click, yaml")  # the interpreter start on this machine
    for args in (["--help"], ["train", "--help"], ["--version"]):
        # Importing TensorFlow alone would add ~3 s.
        assert seconds("-m", "aigc_cli", *args) < bare + 1.0, args


def module_imports() -> dict[str, set[str]]:
    """Each aigc_cli module → the aigc_cli modules it imports by name, at any depth of its
    code (the registries' "module:attr" strings are looked up at run time, not here)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules on it, or None (depth-first search)."""
    state, path = {}, []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_between_modules():
    # Function-level imports count: they only defer a cycle to run time. A package's
    # __init__ counts too (aigc_cli.config re-exports its parts; they never import it).
    assert find_cycle(module_imports()) is None


def test_modules_stay_small_and_commands_have_their_own_modules():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= 400, sorted(sizes.items(), key=lambda item: -item[1])[:3]
    commands = {p.stem for p in (PACKAGE / "commands").glob("*.py")}
    assert {"train", "sample", "denoise", "evaluate", "bench", "export", "config"} <= commands
    # cli.py is the group: it defines no command of its own.
    assert "@main.command" not in (PACKAGE / "cli.py").read_text()
