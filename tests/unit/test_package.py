"""`make build`'s packaging rules: which interpreter compiles the bytecode, and that what
it writes is what a read-only /var/task will load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from broadsheet.local.package import compile_bytecode, runtime_interpreter, runtime_version
from broadsheet.local.template import template_text

HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


def test_the_runtime_version_is_read_from_the_template() -> None:
    assert runtime_version(template_text()) == "3.12"
    assert runtime_version("Globals:\n  Function:\n    Runtime: python3.13\n") == "3.13"


def test_only_an_interpreter_of_the_runtimes_version_compiles(tmp_path: Path) -> None:
    assert runtime_interpreter(HERE) == sys.executable
    # GIVEN a shim on the PATH named for a version it cannot run (pyenv's, say)
    shim = tmp_path / "python3.99"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.99: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    env_path = f"{tmp_path}{os.pathsep}{os.environ['PATH']}"
    code = (
        "from broadsheet.local.package import runtime_interpreter; "
        "print(runtime_interpreter('3.99'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PATH": env_path},
        capture_output=True,
        text=True,
        check=True,
    )
    # THEN it is not mistaken for one
    assert result.stdout.strip() == "None"


def test_compiled_bytecode_is_what_a_read_only_package_loads(tmp_path: Path) -> None:
    package = tmp_path / "package"
    (package / "story").mkdir(parents=True)
    (package / "story" / "__init__.py").write_text("HEADLINE = 'from source'\n")
    compile_bytecode(package, sys.executable)
    compiled = list((package / "story" / "__pycache__").glob("__init__.cpython-*.pyc"))
    assert len(compiled) == 1
    # The source changes after the build; -B writes nothing, as in a read-only /var/task.
    (package / "story" / "__init__.py").write_text("HEADLINE = 'edited after the build'\n")
    result = subprocess.run(
        [sys.executable, "-B", "-c", "import story; print(story.HEADLINE)"],
        env={**os.environ, "PYTHONPATH": str(package)},
        capture_output=True,
        text=True,
        check=True,
    )
    # unchecked-hash: the bytecode is trusted without comparing it to the source
    assert result.stdout.strip() == "from source"
