"""The README and docs/*.md tell the truth.

The README is the front page; the tour that it used to hold is docs/guide.md (its snippets and
commands run here as the README's did), the internals docs/architecture.md, the measured figures
docs/performance.md.

* every ```python block runs as written, in order, in one fresh namespace per page, from the
  repository root;
* every ``nanomag ...`` line of a ```bash block parses with the real command line, the cheap
  ones run (the others too, in the slow test), and every script, config and linked page exists;
* every ``nanomag.x.y`` named in the prose exists;
* the engines x concepts table of docs/engines.md names only things that exist, with the
  argument names, order and return types it shows.
"""

import dataclasses
import importlib
import inspect
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # tests only: the snippets must not open windows

import nanomag as nm  # noqa: E402
from nanomag.cli import build_parser  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: The front page and the tour moved out of it: their commands run (the cheap ones in every run).
FRONT = ("README.md", "guide.md")
FENCE = re.compile(r"^(```+)(\w*)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)


def blocks(page: Path, lang: str) -> list[tuple[int, str]]:
    """(line number, text) of every fenced block of language ``lang`` in ``page``."""
    text = page.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(3)) for m in FENCE.finditer(text) if m.group(2) == lang]


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


# --------------------------------------------------------------------------- python snippets

PYTHON_PAGES = [p for p in PAGES if blocks(p, "python")]


def test_the_readme_has_python_snippets():
    assert ROOT / "README.md" in PYTHON_PAGES
    assert ROOT / "docs" / "guide.md" in PYTHON_PAGES


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_name)
def test_python_snippets_run_as_written(page, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "__snippets__"}
    try:
        for i, (line, code) in enumerate(blocks(page, "python"), 1):
            where = f"{_name(page)}, python block {i} (line {line})"
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as exc:  # noqa: BLE001 - any failure of a snippet is reported with its text
                pytest.fail(f"{where} fails: {type(exc).__name__}: {exc}\n\n{code}", pytrace=False)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


# --------------------------------------------------------------------------- commands

def commands(page: Path) -> list[tuple[int, list[str]]]:
    """(line, argv after ``nanomag``) of every ``nanomag`` command in the bash blocks of ``page``.

    Environment assignments and an ``mpiexec -n N`` or ``srun`` prefix are skipped.
    """
    out = []
    for line0, code in blocks(page, "bash"):
        for k, line in enumerate(code.splitlines()):
            argv = shlex.split(line, comments=True)
            while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", argv[0]):
                argv = argv[1:]
            if argv[:1] == ["mpiexec"] and len(argv) > 3 and argv[1] == "-n":
                argv = argv[3:]
            elif argv[:1] == ["srun"]:
                argv = argv[1:]
            if argv[:1] == ["nanomag"]:
                out.append((line0 + 1 + k, argv[1:]))
    return out


ALL_COMMANDS = [(page, line, argv) for page in PAGES for line, argv in commands(page)]
#: Commands cheap enough (about 1 s, mostly the import) to run in every test run.
CHEAP = (["exact", "stationary"], ["exact", "mfpt"])


def _nanomag() -> list[str]:
    script = shutil.which("nanomag", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "nanomag"]


def test_every_documented_command_parses():
    assert all(any(page.name == name for page, _, _ in ALL_COMMANDS) for name in FRONT)
    help_text = subprocess.run([*_nanomag(), "--help"], capture_output=True, text=True, check=True).stdout
    parser = build_parser()
    for page, line, argv in ALL_COMMANDS:
        where = f"{_name(page)}, line {line}: nanomag {shlex.join(argv)}"
        assert argv and argv[0] in help_text, f"{where}: no such subcommand in `nanomag --help`"
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{where}: the command line refuses it", pytrace=False)


@pytest.mark.parametrize("argv", sorted({tuple(argv) for page, _, argv in ALL_COMMANDS
                                          if page.name in FRONT and argv[:2] in CHEAP}), ids=shlex.join)
def test_cheap_readme_commands_run(argv):
    res = subprocess.run([*_nanomag(), *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    if "--json" in argv:
        out = json.loads(res.stdout)
        if argv[1] == "mfpt":
            assert out["mfpt"] == pytest.approx(nm.exact.mfpt(nm.load_config(ROOT / argv[2]), -0.8, 0.8), rel=1e-12)


@pytest.mark.slow
def test_the_other_readme_commands_run(tmp_path):
    """The remaining commands of the README and the tour that take seconds, in a scratch directory (their
    outputs land there).

    ``nanomag compare`` and ``nanomag spectroscopy`` (tens of seconds) and the MPI lines
    (tests/mpi covers them) are left out.
    """
    (tmp_path / "runs").symlink_to(ROOT / "runs")
    front = [(line, argv) for page, line, argv in ALL_COMMANDS if page.name in FRONT]
    todo = [argv for line, argv in front
            if argv[:2] not in CHEAP and argv[0] in ("exact", "run", "phase") and "--resume" not in argv]
    todo = [list(a) for a in dict.fromkeys(tuple(a) for a in todo)]  # a command in both pages runs once
    assert any(a[0] == "run" for a in todo)
    for argv in todo:
        res = subprocess.run([*_nanomag(), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"nanomag {shlex.join(argv)}:\n{res.stderr}"
    # the KMC line of the README's demo table is this file, whatever the thread count
    res = nm.io.read_ensemble(tmp_path / "switching.h5")
    mean, err = res.mean_time()
    assert (round(mean, 4), round(err, 4)) == (40.6832, 0.0141)


def test_the_readme_table_shows_the_computed_mean_times():
    """The computed lines of the demo table (the sampled ones: test_the_other_readme_commands_run)."""
    text = (ROOT / "README.md").read_text()
    dev = nm.load_config(ROOT / "runs" / "switching.toml")
    computed = {
        "exact master equation": nm.exact.mfpt(dev, -0.8, 0.8),
        "Fokker-Planck, ito form": nm.continuum.mfpt(dev, -0.8, 0.8, form="ito"),
        "Fokker-Planck, flux form": nm.continuum.mfpt(dev, -0.8, 0.8, form="flux"),
        "deterministic NMD flow": nm.continuum.deterministic_time(dev, -0.8, 0.8),
    }
    for method, value in computed.items():
        m = re.search(rf"^{re.escape(method)}\s+([0-9.]+)", text, re.M)
        assert m, f"the demo table lost its line {method!r}"
        assert m.group(1) == f"{value:.4f}", method


# --------------------------------------------------------------------------- files and links

PATH_MENTION = re.compile(r"(?<![\w/.])((?:scripts|runs|docs|tests|src)/[\w./-]+\.(?:py|sh|toml|md))")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_named_files_and_links_exist(page):
    text = page.read_text()
    prose = "\n".join(line for line in text.splitlines() if not line.startswith("    "))  # not sample output
    for path in PATH_MENTION.findall(prose):
        assert (ROOT / path).exists(), f"{_name(page)} names {path}, which does not exist"
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        assert dest.exists(), f"{_name(page)} links to {target}, which does not exist"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest), f"{_name(page)} links to {target}: no such heading"
    assert "shared/" not in text and "PHYSICS.md" not in text and "API.md" not in text


DOTTED = re.compile(r"(?<![\w.])(?:nanomag|nm)(?:\.[A-Za-z_]\w*)+")


def _exists(dotted: str) -> bool:
    """``nanomag.a.b`` (or ``nm.a.b``) is a module, or an attribute or dataclass field reached from one."""
    parts = dotted.split(".")
    parts[0] = "nanomag"
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
            break
        except ImportError:
            continue
    for name in parts[k:]:
        if hasattr(obj, name):
            obj = getattr(obj, name)
        elif isinstance(obj, type) and dataclasses.is_dataclass(obj):
            return name in {f.name for f in dataclasses.fields(obj)}
        else:
            return False
    return True


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_dotted_names_in_the_text_exist(page):
    """Every ``nanomag.x.y`` or ``nm.x.y`` in the inline code of the prose (the snippets run anyway)."""
    prose = FENCE.sub("", page.read_text())
    missing = sorted({m.group(0) for span in re.findall(r"`([^`\n]+)`", prose)
                      for m in DOTTED.finditer(span) if not _exists(m.group(0))})
    assert not missing, f"{_name(page)} names what does not exist: {missing}"


# --------------------------------------------------------------------------- the engines table

ENGINES = ("exact", "KMC", "Fokker–Planck", "Langevin")
CONCEPTS = ("first passage (function)", "survival", "mean time", "censoring", "confidence band",
            "transient", "currents", "merge", "export")
TOKEN = re.compile(r"`([^`]+)`")
SEGMENT = re.compile(r"([A-Za-z_]\w*)(?:\(([^()]*)\))?")


def _types() -> dict[str, type]:
    out = {}
    for mod in (nm.results, nm.exact, nm.kmc, nm.continuum, nm.io):
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if isinstance(obj, type):
                assert out.setdefault(name, obj) is obj, f"two public classes named {name}"
    return out


def engine_table() -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the first table of docs/engines.md."""
    lines = (ROOT / "docs" / "engines.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip().strip("|").split("|")])
    return table[0], table[2:]


def _check_call(obj, args: str, where: str) -> None:
    """The parameters named in ``args`` exist, in this order, keyword-only after ``*``; none required is left out."""
    params = [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]
    names = [p.name for p in params]
    listed, keyword_only = [], False
    for item in (a.strip() for a in args.split(",")):
        if item == "*":
            keyword_only = True
        elif item:
            name = item.split("=")[0].strip()
            assert name in names, f"{where}: {obj.__qualname__} has no parameter {name!r} ({names})"
            kind = params[names.index(name)].kind
            want = inspect.Parameter.KEYWORD_ONLY if keyword_only else inspect.Parameter.POSITIONAL_OR_KEYWORD
            assert kind == want, f"{where}: {obj.__qualname__}: {name} is {kind.description}"
            listed.append(names.index(name))
    assert listed == sorted(listed), f"{where}: {obj.__qualname__} takes its parameters in the order {names}"
    positional = [i for i, p in enumerate(params) if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD]
    shown = [i for i in listed if i in positional]
    assert shown == positional[:len(shown)], f"{where}: {obj.__qualname__}'s positional parameters are {names}"
    for i, p in enumerate(params):
        required = p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        assert not required or i in listed, f"{where}: {obj.__qualname__} also needs {p.name}"


def _member(owner, name: str, where: str):
    """Attribute ``name`` of a module or class; a dataclass field counts (returned as None)."""
    if hasattr(owner, name):
        return getattr(owner, name)
    if isinstance(owner, type) and dataclasses.is_dataclass(owner):
        if name in {f.name for f in dataclasses.fields(owner)}:
            return None
    raise AssertionError(f"{where}: {getattr(owner, '__name__', owner)} has no {name!r}")


def _resolve(owner, dotted: str, where: str):
    """Follow ``a.b(args).c`` from ``owner``; returns (last callable or None, final object or None)."""
    obj, last_call = owner, None
    for m in SEGMENT.finditer(dotted):
        assert obj is not None, f"{where}: {dotted}: nothing to look {m.group(1)!r} up on (a field)"
        obj = _member(obj, m.group(1), where)
        if m.group(2) is not None and obj is not None:
            _check_call(obj, m.group(2), where)
        if callable(obj) and not isinstance(obj, type) or m.group(2) is not None:
            last_call = obj
    assert "".join(m.group(0) for m in SEGMENT.finditer(dotted)) == dotted.replace(".", ""), \
        f"{where}: cannot read {dotted!r}"
    return last_call, obj


def _returns(fn, cls: type, where: str) -> None:
    ann = inspect.signature(fn).return_annotation
    if ann is inspect.Signature.empty:
        doc = (fn.__doc__ or "").partition("Returns")[2]
        assert cls.__name__ in doc, f"{where}: {fn.__qualname__} does not say it returns {cls.__name__}"
    else:
        name = ann if isinstance(ann, str) else ann.__name__
        assert name.strip("'\"").split(".")[-1] == cls.__name__, \
            f"{where}: {fn.__qualname__} returns {name}, not {cls.__name__}"


def test_engines_table_has_every_engine_and_concept():
    header, rows = engine_table()
    assert tuple(header[1:]) == ENGINES
    concepts = [r[0] for r in rows]
    for concept in CONCEPTS:
        assert any(c.startswith(concept) for c in concepts), f"docs/engines.md lost the row {concept!r}"
    assert all(len(r) == len(header) for r in rows)


def test_engines_table_names_exist():
    """Every name of the table exists, with the parameters, order and return type shown (rules in the doc)."""
    header, rows = engine_table()
    types = _types()
    subcommands = set(re.search(r"\{([\w,]+)\}", build_parser().format_usage()).group(1).split(","))
    n_checked = 0
    for col, engine in enumerate(header[1:], 1):
        last_type = last_fn = None
        for row in rows:
            cell = row[col]
            prev_end, prev_call, prev_type = 0, None, None
            for m in TOKEN.finditer(cell):
                tok, between = m.group(1), cell[prev_end:m.start()].strip()
                prev_end = m.end()
                where = f"docs/engines.md, {engine} / {row[0]}: `{tok}`"
                n_checked += 1
                if tok == "+":
                    continue
                if tok.startswith("nanomag "):
                    assert tok.split()[1] in subcommands, f"{where}: no such subcommand"
                    continue
                if re.fullmatch(r"[a-z_]\w*=", tok):
                    assert last_fn is not None, f"{where}: no function above"
                    assert tok[:-1] in inspect.signature(last_fn).parameters, \
                        f"{where}: {last_fn.__qualname__} has no parameter {tok[:-1]}"
                    continue
                if tok.startswith("."):
                    assert last_type is not None, f"{where}: no type above"
                    _resolve(last_type, tok[1:], where)
                    continue
                if tok.startswith("nm."):
                    call, obj = _resolve(nm, tok[3:], where)
                    prev_call = call
                    if call is not None:
                        last_fn = call
                    if isinstance(obj, type) and tok.endswith(")"):  # a constructor call
                        last_type = prev_type = obj
                    continue
                head = SEGMENT.match(tok).group(1)
                assert head in types, f"{where}: not a public name of nanomag (write nm.module.name)"
                call, obj = _resolve(types[head], tok[len(head) + 1:], where) if tok != head else (None, types[head])
                if tok == head:  # a type: a return type, a base class, or the owner of the .attr below
                    if between.endswith("→"):
                        assert prev_call is not None, f"{where}: → after no function"
                        _returns(prev_call, obj, where)
                    elif between.endswith(", a") and prev_type is not None:
                        assert issubclass(prev_type, obj), f"{where}: {prev_type.__name__} is not a {head}"
                    last_type = prev_type = obj
    assert n_checked > 80
