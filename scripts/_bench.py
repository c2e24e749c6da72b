"""What the bench scripts share: the source of another git revision, and the environment that runs it.

Import from a script in this folder with ``from _bench import ...`` (the script's folder is on ``sys.path``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

#: The repository's top folder.
ROOT = Path(__file__).resolve().parent.parent


def export_tree(rev: str, where: str | os.PathLike[str], paths: tuple[str, ...] = ("src",)) -> Path:
    """The folders ``paths`` of git revision ``rev`` (``git archive``), extracted into the existing folder ``where``.

    Returns ``where`` as a Path; the revision's package is then ``where / "src"``.
    """
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *paths], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return Path(where)


def src_env(src: str | os.PathLike[str], env: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``env`` (default: this process's environment) with ``src`` first on PYTHONPATH, and the variables ``extra``.

    The package found in ``src`` is then the one a child process imports (before an installed one).
    """
    out = dict(os.environ if env is None else env, **extra)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), out.get("PYTHONPATH")]))
    return out
