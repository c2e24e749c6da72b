"""Bad input, table-driven: nothing silent.

Every case runs the command line in-process through ``nanomag.cli.main.main(argv)`` and
asserts the one rule of docs/reliability.md: exit status 2, exactly one line on stderr,
``nanomag: error: ...`` naming the problem, no traceback, and no output file written.

* **Config keys** (generated): every key of every table of a configuration file
  (single-orbital grain, multi-level grain and its levels, leads in both forms, both
  kinds of ``[run]``, ``[[protocol]]``) x every kind of bad value (missing, wrong type,
  NaN, +-inf, negative, zero, huge, fractional, array, table, and per-key extras), each
  through every command (exact, run, compare, spectroscopy, phase, pulse, rare).  A test checks that
  the table covers every key the parser accepts, so a new key cannot slip in untested.
* **Files and semantics**: unreadable, binary and malformed files, and inputs that parse
  but cannot be computed (a start already in the target, unresolvable rates, a chain
  that cannot fit in memory, a run that would take years).
* **Flags** of every command: zero, negative, NaN, inf, non-numbers, out of range,
  output paths (a directory, a read-only place, an unknown figure format, an existing file).
* **Python API** calls that used to return wrong results silently.
* **Properties** (hypothesis): any value of any numeric key, any bytes as a file, any
  mutation of a good file, any text for a numeric flag: exit 0 or one clear line, never
  a traceback.

The numbered cases of the issue are marked ``case N`` in the test names' docstrings.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import nanomag as nm
from nanomag.cli import main

from devices import RUNS

MISSING = object()
TRIED = {"refused": 0, "property": 0}  # counted for docs/reliability.md (printed by conftest's terminal summary)


# --------------------------------------------------------------------------------------- configs as data

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else ("-inf" if v == -math.inf else repr(v)))
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def to_toml(cfg: dict) -> str:
    """A tiny TOML writer: tables, arrays of tables, inline tables and arrays."""
    out = []
    for name, body in cfg.items():
        items = body if isinstance(body, list) and body and isinstance(body[0], dict) else None
        if items is not None:
            for item in items:
                out.append(f"[[{name}]]")
                out += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
                out.append("")
        elif isinstance(body, dict):
            out.append(f"[{name}]")
            out += [f"{k} = {_toml_value(v)}" for k, v in body.items()]
            out.append("")
        else:
            out.append(f"{name} = {_toml_value(body)}")
    return "\n".join(out) + "\n"


def single() -> dict:
    """A single-orbital device (S0 = 20: 83 states) with a lead of each form and a first-passage run."""
    return {
        "grain": {"S0": 20, "eta": 1, "kappa": 1.0, "h": -0.4, "eps": 0.0, "alpha": 0.01, "T": 0.05},
        "leads": [{"name": "left", "mu": 3.0, "gamma_up": 7.2, "gamma_down": 2.4},
                  {"name": "right", "mu": -3.0, "gamma_major": 7.2, "gamma_minor": 2.4, "theta": math.pi}],
        "run": {"kind": "first_passage", "start_u": -0.8, "target_u": 0.8, "n_traj": 100, "seed": 3},
    }


def trajectories() -> dict:
    cfg = single()
    cfg["run"] = {"kind": "trajectories", "start_u": -0.8, "t_final": 30.0, "n_times": 5, "n_traj": 20, "seed": 3}
    return cfg


def telegraph() -> dict:
    cfg = single()
    cfg["run"] = {"kind": "telegraph", "duration": 2000.0, "n_traj": 4, "seed": 3, "threshold": 0.5,
                  "window": 500.0, "grid_dt": 1.0, "nperseg": 64, "max_dwells": 100}
    return cfg


def multilevel() -> dict:
    cfg = single()
    cfg["grain"] = {"S_core": 1.0, "levels": [{"eps": 0.0125, "n": 1}, {"eps": 0.71, "n": 1, "coupling": 1.0}],
                    "charges": [0, 1], "E_C": 0.0, "N_g": 0.0, "J": 0.15, "kappa": 0.1, "h": 0.3, "alpha": 0.5,
                    "T": 0.025}
    return cfg


def polarised() -> dict:
    """The first lead given by its total rate and polarisation (gamma, P)."""
    cfg = single()
    cfg["leads"][0] = {"name": "left", "mu": 3.0, "gamma": 9.6, "P": 0.5}
    return cfg


def with_protocol() -> dict:
    cfg = single()
    cfg["protocol"] = [{"duration": 5.0, "h": 0.1, "mu": {"left": 2.0}}]
    return cfg


# --------------------------------------------------------------------------------------- the key table
# domain -> the kinds of value it refuses (besides "missing" for a required key)
VALUES = {"string": "x", "bool": True, "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "negative": -1.0,
          "zero": 0.0, "huge": 1e300, "fraction": 0.3, "array": [1], "table": {"a": 1}}
NUMERIC = {"string", "bool", "nan", "inf", "-inf", "huge", "array", "table"}
REFUSES = {
    "real": NUMERIC,
    "nonneg": NUMERIC | {"negative"},
    "positive": NUMERIC | {"negative", "zero"},
    "mu": NUMERIC - {"inf", "-inf"},
    "u": NUMERIC,
    "count": NUMERIC | {"negative", "zero", "fraction"},
    "seed": NUMERIC | {"negative", "fraction"},
    "S0": NUMERIC | {"negative", "zero", "fraction"},
    "S_core": NUMERIC | {"negative", "fraction"},
    "eta": NUMERIC | {"zero", "fraction"},
    "occupation": NUMERIC | {"negative", "fraction"},
    "name": {"bool", "nan", "inf", "negative", "array", "table"},
    "kind": {"string", "bool", "nan", "negative", "array", "table"},
    "levels": {"string", "bool", "nan", "negative", "array", "table"},
    "charges": {"string", "bool", "nan", "negative", "fraction", "table"},
    "mu_table": {"string", "bool", "nan", "negative", "array"},
    "polarisation": NUMERIC,
    "threshold": NUMERIC | {"negative", "zero"},
}
# domain -> extra (label, value) pairs it refuses
EXTRA = {
    "u": [("above 1", 1.5), ("below -1", -1.5)],
    "threshold": [("one", 1.0), ("above 1", 1.5)],
    "count": [("2**60", 2**60)],
    "eta": [("2", 2)],
    "occupation": [("3", 3)],
    "levels": [("empty", [])],
    "charges": [("empty", []), ("without 0", [1]), ("repeated", [0, 0]), ("unreachable", [0, 9]),
                ("non-integer", [0, 0.5])],
    "mu_table": [("unknown lead", {"nope": 1.0}), ("NaN", {"left": math.nan}), ("string", {"left": "x"})],
    "S0": [("not a half-integer", 2.3)],
    "polarisation": [("above 1", 1.5), ("below -1", -1.5)],
}

# (base, where, key, domain, required); where: ("grain",), ("leads", i), ("run",), ("protocol", 0), ("level", i)
KEYS = [
    *[(single, ("grain",), k, d, True) for k, d in (("S0", "S0"), ("eta", "eta"), ("kappa", "real"), ("h", "real"),
                                                    ("eps", "real"), ("alpha", "nonneg"), ("T", "nonneg"))],
    (single, ("leads", 0), "name", "name", False),
    (single, ("leads", 0), "mu", "mu", True),
    (single, ("leads", 0), "gamma_up", "nonneg", True),
    (single, ("leads", 0), "gamma_down", "nonneg", True),
    (single, ("leads", 0), "T", "nonneg", False),
    (single, ("leads", 1), "gamma_major", "nonneg", True),
    (single, ("leads", 1), "gamma_minor", "nonneg", True),
    (single, ("leads", 1), "theta", "real", True),
    (polarised, ("leads", 0), "gamma", "nonneg", True),
    (polarised, ("leads", 0), "P", "polarisation", True),
    (single, ("grain",), "g", "positive", False),
    (single, ("run",), "kind", "kind", True),
    (single, ("run",), "start_u", "u", True),
    (single, ("run",), "target_u", "u", True),
    (single, ("run",), "n_traj", "count", True),
    (single, ("run",), "seed", "seed", True),
    (single, ("run",), "t_max", "positive", False),
    (single, ("run",), "chunk_size", "count", False),
    (trajectories, ("run",), "t_final", "positive", True),
    (trajectories, ("run",), "n_times", "count", True),
    (telegraph, ("run",), "duration", "positive", True),
    (telegraph, ("run",), "threshold", "threshold", False),
    (telegraph, ("run",), "window", "positive", False),
    (telegraph, ("run",), "grid_dt", "positive", False),
    (telegraph, ("run",), "nperseg", "count", False),
    (telegraph, ("run",), "max_dwells", "count", False),
    (multilevel, ("grain",), "levels", "levels", True),
    (multilevel, ("grain",), "S_core", "S_core", True),
    (multilevel, ("grain",), "charges", "charges", False),
    (multilevel, ("grain",), "E_C", "nonneg", False),
    (multilevel, ("grain",), "N_g", "real", False),
    (multilevel, ("grain",), "J", "real", True),
    (multilevel, ("grain",), "kappa", "real", True),
    (multilevel, ("grain",), "h", "real", True),
    (multilevel, ("grain",), "alpha", "nonneg", True),
    (multilevel, ("grain",), "T", "nonneg", True),
    (multilevel, ("level", 1), "eps", "real", True),
    (multilevel, ("level", 1), "n", "occupation", True),
    (multilevel, ("level", 1), "coupling", "nonneg", False),
    (with_protocol, ("protocol", 0), "duration", "positive", True),
    (with_protocol, ("protocol", 0), "h", "real", False),
    (with_protocol, ("protocol", 0), "T", "nonneg", False),
    (with_protocol, ("protocol", 0), "kappa", "real", False),
    (with_protocol, ("protocol", 0), "alpha", "nonneg", False),
    (with_protocol, ("protocol", 0), "vg", "real", False),
    (with_protocol, ("protocol", 0), "mu", "mu_table", False),
]
# keys whose value refusals are tested through another key of the same form (eps with vg: see below)
_SKIP_VALUES = {("protocol", "eps")}


def _table(cfg: dict, where: tuple) -> dict:
    if where[0] == "level":
        return cfg["grain"]["levels"][where[1]]
    if len(where) == 2:
        return cfg[where[0]][where[1]]
    return cfg[where[0]]


def _key_cases():
    cases = []
    for base, where, key, domain, required in KEYS:
        kinds = sorted(REFUSES[domain]) + (["missing"] if required else [])
        for kind in kinds:
            cases.append((f"{base.__name__}:{where[0]}.{key}={kind}", base, where, key,
                          MISSING if kind == "missing" else VALUES[kind]))
        for label, value in EXTRA.get(domain, []):
            cases.append((f"{base.__name__}:{where[0]}.{key}={label}", base, where, key, value))
    # a few structural ones
    cases += [
        ("grain.unknown key", single, ("grain",), "spin", 3.0),
        ("leads.unknown key", single, ("leads", 0), "gamma", 3.0),
        ("run.unknown key", single, ("run",), "n_trajs", 3),
        ("level.unknown key", multilevel, ("level", 0), "energy", 3.0),
        ("protocol.unknown key", with_protocol, ("protocol", 0), "S0", 3.0),
        ("protocol.eps with vg", with_protocol, ("protocol", 0), "eps", 0.5),  # base segment gets vg below
        ("leads.both forms", single, ("leads", 0), "theta", 0.1),
        ("leads.duplicate name", single, ("leads", 1), "name", "left"),
        ("run.target equals start", single, ("run",), "target_u", -0.8),
        ("leads.mu huge", single, ("leads", 0), "mu", 1e200),
        ("grain.S0 huge int", single, ("grain",), "S0", 10**400),
    ]
    return cases


KEY_CASES = _key_cases()


def _config_text(base, where, key, value) -> str:
    cfg = base()
    if where[0] == "protocol" and key == "eps" and value == 0.5:
        cfg["protocol"][0]["vg"] = 0.2
    table = _table(cfg, where)
    if value is MISSING:
        del table[key]
    else:
        table[key] = value
    return to_toml(cfg)


def _commands(cfg_path: Path, tmp: Path):
    """Every command that reads a configuration, with output paths that must stay unwritten."""
    return {
        "exact": (["exact", "mfpt", str(cfg_path)], []),
        "run": (["run", str(cfg_path), "--out", str(tmp / "r.h5"), "--quiet"], [tmp / "r.h5"]),
        "compare": (["compare", str(cfg_path), "--out", str(tmp / "c.png"), "--n-traj", "10", "--quiet"],
                    [tmp / "c.png"]),
        "spectroscopy": (["spectroscopy", str(cfg_path), "--vg", "-1", "1", "2", "--vbias", "-1", "1", "2", "--out",
                          str(tmp / "s.h5"), "--quiet"], [tmp / "s.h5"]),
        "phase": (["phase", str(cfg_path), "--n-mu", "2", "--n-h", "2", "--out", str(tmp / "p.png")],
                  [tmp / "p.png"]),
        "pulse": (["pulse", str(cfg_path), "--out", str(tmp / "w.h5"), "--quiet"], [tmp / "w.h5"]),
        "rare": (["rare", str(cfg_path), "--out", str(tmp / "rare.h5"), "--quiet"], [tmp / "rare.h5"]),
        "noise": (["noise", str(cfg_path), "--out", str(tmp / "n.h5"), "--quiet"], [tmp / "n.h5"]),
    }


COMMANDS = ("exact", "run", "compare", "spectroscopy", "phase", "pulse", "rare", "noise")


def refused(argv, capsys, *expected, files=()) -> str:
    """Run ``argv``; assert exit 2, one line ``nanomag: error: ...`` containing ``expected``, no traceback,
    and none of ``files`` written.  Returns the line."""
    TRIED["refused"] += 1
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, f"exit {status} for {argv}: {captured.err[-500:]}"
    assert "Traceback" not in captured.err
    assert len(lines) == 1, f"{len(lines)} lines on stderr for {argv}:\n{captured.err}"
    assert lines[0].startswith("nanomag: error: "), lines[0]
    for text in expected:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    for f in files:
        assert not Path(f).exists(), f"{f} was written"
    return lines[0]


# --------------------------------------------------------------------------------------- config keys x commands

@pytest.mark.parametrize("label,base,where,key,value", KEY_CASES, ids=[c[0] for c in KEY_CASES])
def test_every_bad_config_value_is_refused_by_every_command(tmp_path, capsys, label, base, where, key, value):
    path = tmp_path / "bad.toml"
    path.write_text(_config_text(base, where, key, value))
    name = "name" if label.endswith("duplicate name") else key
    for command in COMMANDS:
        argv, files = _commands(path, tmp_path)[command]
        refused(argv, capsys, str(path), name, files=files)


def test_the_key_table_covers_every_key_the_parser_accepts():
    from nanomag.io import config as parser
    from nanomag.model.protocol import SEGMENT_PARAMETERS

    covered = {(w[0], k) for _, w, k, _, _ in KEYS}
    tables = {"grain": set(parser._GRAIN_KEYS) | set(parser._MULTI_KEYS), "leads": set(parser._LEAD_KEYS),
              "run": set(parser._RUN_KEYS), "level": set(parser._LEVEL_KEYS),
              "protocol": {"duration", "mu", *SEGMENT_PARAMETERS}}
    missing = {(t, k) for t, keys in tables.items() for k in keys} - covered - _SKIP_VALUES
    assert not missing, f"keys without bad-input cases: {sorted(missing)}"
    assert len(KEY_CASES) * len(COMMANDS) >= 150


# --------------------------------------------------------------------------------------- files and semantics

def _write(tmp_path, text, name="dev.toml"):
    path = tmp_path / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


FILE_CASES = [
    ("empty file", "", "missing key(s) grain"),
    ("invalid TOML", "[grain\nS0 = 1\n", "invalid TOML"),
    ("duplicate key", "[grain]\nS0 = 1\nS0 = 2\n", "invalid TOML"),
    ("grain not a table", "grain = 1\n", "[grain]"),
    ("leads not an array", to_toml(single()).replace("[[leads]]", "[leadz]", 1), "unknown key(s) leadz"),
    ("leads scalar", "leads = 1\n" + to_toml({k: v for k, v in single().items() if k != "leads"}), "leads"),
    ("run not a table", "run = 1\n" + to_toml({k: v for k, v in single().items() if k != "run"}), "[run]"),
    ("unknown table", to_toml(single()) + "[extra]\na = 1\n", "unknown key(s) extra"),
    ("protocol empty", "protocol = []\n" + to_toml(single()), "protocol"),
    ("binary (case 10)", b"\x00\x01\x02\x03" * 50, "binary file"),
    ("not UTF-8 (case 10)", b"\xff\xfe[grain]\n", "not UTF-8"),
    ("too big", "#" * (2 << 20), "not a configuration file"),
]


@pytest.mark.parametrize("label,content,message", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_files_are_refused_by_every_command(tmp_path, capsys, label, content, message):
    path = _write(tmp_path, content)
    for command in COMMANDS:
        argv, files = _commands(path, tmp_path)[command]
        refused(argv, capsys, message, files=files)


def test_missing_and_directory_configs(tmp_path, capsys):
    for command in COMMANDS:
        argv, files = _commands(tmp_path / "nope.toml", tmp_path)[command]
        refused(argv, capsys, "cannot read", files=files)
        argv, files = _commands(tmp_path, tmp_path)[command]
        refused(argv, capsys, "cannot read", files=files)


def _device_text(changes: dict) -> str:
    """The single-orbital config with {(where, key): value} changes."""
    cfg = single()
    for (where, key), value in changes.items():
        _table(cfg, where)[key] = value
    return to_toml(cfg)


def test_a_start_already_in_the_target_is_refused_everywhere(tmp_path, capsys):
    """case 8: a start already past the target used to write zero switching times."""
    cfg = single()
    cfg["run"].update(start_u=0.8000001, target_u=0.8, t_max=10.0)
    path = _write(tmp_path, to_toml(cfg))
    for command in ("exact", "run", "compare"):
        argv, files = _commands(path, tmp_path)[command]
        refused(argv, capsys, "already lies in the target", files=files)
    refused(["exact", "fpt", path], capsys, "already lies in the target")


@pytest.mark.parametrize("gamma", [1e300, 1e200])
def test_rates_that_overflow_are_refused(tmp_path, capsys, gamma):
    """case 8: gamma_up = 1e300 gave lead currents -2.5e253 and -6."""
    path = _write(tmp_path, _device_text({(("leads", 0), "gamma_up"): gamma}))
    for command in COMMANDS:
        argv, files = _commands(path, tmp_path)[command]
        refused(argv, capsys, "gamma_up", "too large", files=files)
    with pytest.raises(nm.ConfigError, match="too large"):
        nm.Lead(mu=0.0, gamma_up=gamma, gamma_down=1.0)


def test_currents_that_cannot_be_resolved_are_refused_and_resolvable_ones_cancel(tmp_path, capsys):
    """case 8: rates 1e50 against 10 leave the currents to rounding: refused, not printed."""
    path = _write(tmp_path, _device_text({(("leads", 0), "gamma_up"): 1e50}))
    refused(["exact", "stationary", path], capsys, "do not cancel")
    refused(["spectroscopy", path, "--vg", "-1", "1", "2", "--vbias", "-1", "1", "2", "--out", tmp_path / "s.h5"],
            capsys, "do not cancel", files=[tmp_path / "s.h5"])
    path = _write(tmp_path, _device_text({(("leads", 0), "gamma_up"): 1e6}))
    assert main(["exact", "stationary", str(path), "--json"]) == 0
    currents = json.loads(capsys.readouterr().out)["currents"]
    total, scale = sum(currents.values()), max(abs(c) for c in currents.values())
    assert abs(total) <= 1e-9 * scale


SIZE_CASES = [
    # (label, changes to the single-orbital config, commands, expected text)
    ("S0 = 1e9 (case 3)", {(("grain",), "S0"): 1e9}, ("exact", "run", "compare", "spectroscopy"), "of memory"),
    ("S0 = 1e7 (case 3)", {(("grain",), "S0"): 1e7}, ("exact", "run", "compare", "spectroscopy"), "of memory"),
    ("n_traj = 1e12 (case 3)", {(("run",), "n_traj"): 10**12}, ("run",), "would take about"),
    ("n_traj = 1e15", {(("run",), "n_traj"): 10**15}, ("run",), "would take about"),
]


@pytest.fixture
def eight_gigabytes(monkeypatch):
    """The memory estimates see a machine with 8 GB free, whatever this one has."""
    try:
        from nanomag.run import budget
    except ImportError:  # (a version without estimates: nothing to pin)
        return
    monkeypatch.setattr(budget, "memory_available", lambda: 8 * 10**9)


@pytest.mark.parametrize("label,changes,commands,message", SIZE_CASES, ids=[c[0] for c in SIZE_CASES])
def test_requests_that_cannot_fit_are_refused_before_any_work(tmp_path, capsys, eight_gigabytes, label, changes,
                                                              commands, message):
    path = _write(tmp_path, _device_text(changes))
    for command in commands:
        argv, files = _commands(path, tmp_path)[command]
        line = refused(argv, capsys, message, "--force-size", files=files)
        assert "about" in line  # the estimate is stated
    assert not list(tmp_path.glob("*.h5*")), "a file was started"


def test_a_twelve_level_grain_with_a_large_core_spin_is_refused(tmp_path, capsys, eight_gigabytes):
    """case 3: counted in closed form, never enumerated."""
    from nanomag.run.budget import state_count

    cfg = multilevel()
    cfg["grain"]["levels"] = [{"eps": 0.1 * i, "n": 1} for i in range(12)]
    cfg["grain"]["S_core"] = 500.0
    path = _write(tmp_path, to_toml(cfg))
    assert state_count(nm.read_config(path).device.grain) > 1e8
    for command in ("exact", "run", "spectroscopy"):
        argv, files = _commands(path, tmp_path)[command]
        refused(argv, capsys, "states", "of memory", files=files)


def test_state_count_is_exact():
    from nanomag.markov.rates import build
    from nanomag.run.budget import state_count

    for dev in (nm.load_config(RUNS / "small_switching.toml"), nm.load_config(RUNS / "fig3_spectroscopy.toml"),
                nm.read_config(_path_of(to_toml(multilevel()))).device):
        assert state_count(dev.grain) == build(dev).n_states
    g = nm.MultiLevelGrain(levels=[(0, 1), (1, 0), (-1, 2), (2, 0)], charges=(-1, 0, 1, 2), S_core=0.5, kappa=1)
    assert state_count(g) == g.n_states


def _path_of(text):
    import tempfile

    path = Path(tempfile.mkdtemp()) / "c.toml"
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------- flags of every command

def _flag_cases():
    good = "{cfg}"
    run = ["run", good, "--out", "{tmp}/r.h5", "--quiet"]
    cmp = ["compare", good, "--out", "{tmp}/c.png", "--n-traj", "10", "--quiet"]
    spec = ["spectroscopy", good, "--vg", "-1", "1", "2", "--vbias", "-1", "1", "2", "--out", "{tmp}/s.h5", "--quiet"]
    ph = ["phase", good, "--n-mu", "2", "--n-h", "2"]
    cases = []
    bad_numbers = {"zero": "0", "negative": "-1", "nan": "nan", "inf": "inf", "text": "x", "empty": ""}
    for flag in ("--t-max",):
        for label, v in bad_numbers.items():
            cases.append((f"exact fpt {flag} {label}", ["exact", "fpt", good, flag, v], flag))
    for label, v in {"one": "1", "zero": "0", "negative": "-3", "text": "x", "fraction": "2.5"}.items():
        cases.append((f"exact fpt --n-times {label}", ["exact", "fpt", good, "--n-times", v], "--n-times"))
    cases.append(("exact fpt --n-times 1e9 (memory)", ["exact", "fpt", good, "--n-times", "1000000000000"],
                  "--n-times"))
    for flag in ("--start-u", "--target-u"):
        for label, v in {"above 1": "1.5", "below -1": "-2", "nan": "nan", "inf": "inf", "text": "x"}.items():
            cases.append((f"exact mfpt {flag} {label}", ["exact", "mfpt", good, flag, v], flag.strip("-")[:5]))
            cases.append((f"compare {flag} {label}", cmp + [flag, v], flag.strip("-")[:5]))
    cases.append(("exact unknown what", ["exact", "nope", good], "invalid choice"))
    cases.append(("exact without config", ["exact", "mfpt"], "config"))
    cases.append(("exact equal start and target", ["exact", "mfpt", good, "--start-u", "0.3", "--target-u", "0.3"],
                  "must differ"))
    for label, v in {"zero (case 8)": "0", "negative (case 5)": "-5", "text": "x", "fraction": "1.5",
                     "empty": ""}.items():
        cases.append((f"run --chunk-size {label}", run + ["--chunk-size", v], "--chunk-size"))
    cases.append(("run --resume and --force", run + ["--resume", "--force"], "choose one"))
    cases.append(("run --out a directory (case 6)", ["run", good, "--out", "{tmp}", "--force", "--quiet"],
                  "is a directory"))
    cases.append(("run --out under a file", ["run", good, "--out", "{cfg}/x.h5", "--quiet"], "x.h5"))
    cases.append(("run unknown flag", run + ["--workers", "2"], "unrecognized"))
    for label, v in {"zero": "0", "one": "1", "negative": "-4", "text": "x", "fraction": "2.5"}.items():
        cases.append((f"compare --n-traj {label}", cmp + ["--n-traj", v], "--n-traj"))
    for label, v in {"negative": "-1", "text": "x", "fraction": "0.5"}.items():
        cases.append((f"compare --seed {label}", cmp + ["--seed", v], "--seed"))
    cases.append(("compare --n-traj 1e15 (case 3)", cmp + ["--n-traj", "1000000000000000"], "would take about"))
    for label, v in {"zero (case 8)": "0", "negative": "-0.1", "nan": "nan", "inf": "inf", "text": "x",
                     "huge (case 8)": "1e6", "large": "5"}.items():
        cases.append((f"compare --dt {label}", cmp + ["--dt", v], "--dt"))
    for label, v in {"unknown format (case 6)": "{tmp}/c.xyz", "no extension": "{tmp}/c", "a directory": "{tmp}",
                     "HDF5 name": "{tmp}/c.h5"}.items():
        cases.append((f"compare --out {label}", cmp[:2] + ["--out", v, "--n-traj", "10"], "--out"))
    for axis in ("--vg", "--vbias"):
        i = spec.index(axis)
        for label, trio in {"HI < LO": ["1", "-1", "3"], "N = 1": ["-1", "1", "1"], "N fractional": ["-1", "1", "2.5"],
                            "NaN": ["nan", "1", "3"], "inf": ["-1", "inf", "3"], "text": ["-1", "x", "3"],
                            "N negative": ["-1", "1", "-3"]}.items():
            cases.append((f"spectroscopy {axis} {label}", spec[:i + 1] + trio + spec[i + 4:], axis))
    cases.append(("spectroscopy --vg 1e7 points (case 10)",
                  spec[:2] + ["--vg", "-1", "1", "1e7"] + spec[6:], "would take about"))
    for label, v in {"zero (case 8)": "0", "negative": "-2", "text": "x", "fraction": "1.5"}.items():
        cases.append((f"spectroscopy --workers {label}", spec + ["--workers", v], "--workers"))
    plots = {"unknown format (case 6)": "{tmp}/m.xyz", "no extension": "{tmp}/m", "a directory": "{tmp}"}
    for label, v in plots.items():
        cases.append((f"spectroscopy --plot {label}", spec + ["--plot", v], "--plot"))
    cases.append(("spectroscopy --plot equals --out", spec[:-3] + ["--out", "{tmp}/s.png", "--plot", "{tmp}/s.png"],
                  "--plot"))
    cases.append(("spectroscopy --out a directory", spec[:-3] + ["--out", "{tmp}", "--force"], "is a directory"))
    cases.append(("spectroscopy without --vg", ["spectroscopy", good, "--vbias", "-1", "1", "2"], "--vg"))
    for flag in ("--n-mu", "--n-h"):
        for label, v in {"one": "1", "zero": "0", "negative": "-5", "text": "x"}.items():
            cases.append((f"phase {flag} {label}", ["phase", good, flag, v], flag))
    cases.append(("phase 20000 x 20000 (case 3)", ["phase", good, "--n-mu", "20000", "--n-h", "20000"], "--n-mu"))
    for flag in ("--mu-range", "--h-range"):
        for label, pair in {"HI < LO": ["1", "-1"], "equal": ["1", "1"], "NaN": ["nan", "1"], "inf": ["0", "inf"],
                            "text": ["x", "1"]}.items():
            cases.append((f"phase {flag} {label}", ph + [flag] + pair, flag))
    for label, v in {"unknown format": "{tmp}/p.xyz", "no extension": "{tmp}/p", "a directory": "{tmp}"}.items():
        cases.append((f"phase --out {label}", ph + ["--out", v], "--out"))
    noise = ["noise", good, "--out", "{tmp}/n.h5", "--quiet"]
    for label, v in {"above 1": "1.5", "zero": "0", "one": "1", "negative": "-0.2", "nan": "nan",
                     "text": "x"}.items():
        cases.append((f"noise --threshold {label}", noise + ["--threshold", v], "--threshold"))
    for label, trio in {"zero": ["0", "1", "5"], "negative": ["-1", "1", "5"], "HI < LO": ["10", "1", "5"],
                        "N = 1": ["1", "10", "1"], "N fractional": ["1", "10", "2.5"], "inf": ["1", "inf", "5"],
                        "text": ["x", "1", "5"]}.items():
        cases.append((f"noise --freqs {label}", noise + ["--freqs"] + trio, "--freqs"))
    cases.append(("noise --lead unknown", noise + ["--lead", "middle"], "--lead"))
    for label, quad in {"unknown parameter": ["S0", "1", "2", "3"], "unknown lead": ["mu.middle", "0", "1", "3"],
                        "HI < LO": ["h", "1", "0", "3"], "not numbers": ["h", "a", "1", "3"],
                        "N = 1": ["h", "0", "1", "1"], "negative T": ["T", "-1", "1", "3"]}.items():
        cases.append((f"noise --sweep {label}", noise + ["--sweep"] + quad, "--sweep"))
    cases.append(("noise --sweep missing values", noise + ["--sweep", "h", "0"], "--sweep"))
    cases.append(("noise --resume without --kmc", noise + ["--resume"], "--resume"))
    cases.append(("noise --resume and --force", noise + ["--kmc", "--resume", "--force"], "choose one"))
    cases.append(("noise --kmc of a first-passage run", noise + ["--kmc"], "telegraph"))
    for label, v in {"zero": "0", "text": "x"}.items():
        cases.append((f"noise --workers {label}", noise + ["--workers", v], "--workers"))
    for label, v in plots.items():
        cases.append((f"noise --plot {label}", noise + ["--plot", v], "--plot"))
    cases += [("no command", [], "nanomag"), ("unknown command", ["frobnicate"], "invalid choice"),
              ("unknown global flag", ["--nope"], "unrecognized")]
    return cases


FLAG_CASES = _flag_cases()


@pytest.fixture
def good_config(tmp_path):
    path = tmp_path / "good.toml"
    path.write_text(to_toml(single()))
    return path


@pytest.mark.parametrize("label,argv,message", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_every_bad_flag_is_refused(tmp_path, capsys, good_config, label, argv, message):
    argv = [a.format(cfg=good_config, tmp=tmp_path) for a in argv]
    if label == "no command":
        assert main([]) == 2
        assert "usage" in capsys.readouterr().err
        return
    before = set(tmp_path.iterdir())
    refused(argv, capsys, message)
    assert set(tmp_path.iterdir()) == before, "an output file was written"


# --------------------------------------------------------------------------------------- results never overwritten

def test_no_result_file_is_overwritten_without_force(tmp_path, capsys, monkeypatch):
    """case 2: spectroscopy overwrote any --out, a finished ensemble included; its default was fixed."""
    import hashlib

    cfg = tmp_path / "small.toml"
    cfg.write_text((RUNS / "small_switching.toml").read_text().replace("n_traj = 20000", "n_traj = 200"))
    ens = tmp_path / "ens.h5"
    assert main(["run", str(cfg), "--out", str(ens), "--quiet"]) == 0
    capsys.readouterr()
    digest = hashlib.sha256(ens.read_bytes()).hexdigest()
    spec = ["spectroscopy", str(cfg), "--vg", "-1", "1", "2", "--vbias", "-1", "1", "2", "--quiet"]
    refused(spec + ["--out", ens], capsys, "exists", "--force")
    figure = tmp_path / "fig.png"
    figure.write_bytes(b"precious")
    refused(spec + ["--out", tmp_path / "new.h5", "--plot", figure], capsys, "exists", files=[tmp_path / "new.h5"])
    refused(["compare", cfg, "--out", figure, "--n-traj", "10"], capsys, "exists")
    refused(["phase", cfg, "--n-mu", "3", "--n-h", "3", "--out", figure], capsys, "exists")
    refused(["run", cfg, "--out", ens, "--quiet"], capsys, "exists")
    assert hashlib.sha256(ens.read_bytes()).hexdigest() == digest and figure.read_bytes() == b"precious"
    # the default output is named after the config, and refused too once it exists
    monkeypatch.chdir(tmp_path)  # restored after the test: later tests read runs/ relative to the checkout
    assert main(spec) == 0
    assert (tmp_path / "small_spectroscopy.h5").exists() and not (tmp_path / "spectroscopy.h5").exists()
    capsys.readouterr()
    refused(spec, capsys, "small_spectroscopy.h5", "exists")
    # with --force the result is replaced (atomically: no temporary file is left)
    assert main(spec + ["--out", str(ens), "--force", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(ens)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_output_paths(tmp_path, capsys):
    """case 6: --out nodir/x.h5 creates the directory; an unwritable place is one clear line."""
    cfg = tmp_path / "small.toml"
    cfg.write_text((RUNS / "small_switching.toml").read_text().replace("n_traj = 20000", "n_traj = 100"))
    out = tmp_path / "nodir" / "deeper" / "x.h5"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert out.exists() and not Path(str(out) + ".lock").exists() and not Path(str(out) + ".partial").exists()
    capsys.readouterr()
    for place in ("/proc/nanomag-test/x.h5", "/proc/x.h5"):
        refused(["run", cfg, "--out", place, "--quiet"], capsys, "--out", "x.h5")
        refused(["spectroscopy", cfg, "--vg", "-1", "1", "2", "--vbias", "-1", "1", "2", "--out", place], capsys,
                "--out")


def test_a_figure_format_is_refused_before_the_computation(tmp_path, capsys):
    """case 6: --plot x.xyz used to fail only after the whole computation."""
    import time

    cfg = tmp_path / "small.toml"
    cfg.write_text((RUNS / "small_switching.toml").read_text())
    t0 = time.perf_counter()
    refused(["spectroscopy", cfg, "--vg", "-1", "1", "400", "--vbias", "-1", "1", "400", "--plot",
             tmp_path / "x.xyz", "--out", tmp_path / "s.h5"], capsys, "x.xyz", files=[tmp_path / "s.h5"])
    assert time.perf_counter() - t0 < 5  # the 160000-point map (minutes) was not computed


# --------------------------------------------------------------------------------------- environment

def test_without_mpi4py_a_single_rank_launch_runs_serially(tmp_path, capsys, monkeypatch):
    """case 10: PMI_SIZE=1 without mpi4py crashed with ModuleNotFoundError."""
    cfg = tmp_path / "small.toml"
    cfg.write_text((RUNS / "small_switching.toml").read_text().replace("n_traj = 20000", "n_traj = 100"))
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py -> ImportError
    monkeypatch.setenv("PMI_SIZE", "1")
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.delenv("NANOMAG_MPI", raising=False)
    assert main(["run", str(cfg), "--out", str(tmp_path / "a.h5"), "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("PMI_SIZE", "4")
    refused(["run", cfg, "--out", tmp_path / "b.h5", "--quiet"], capsys, "mpi4py is not installed",
            files=[tmp_path / "b.h5"])


# --------------------------------------------------------------------------------------- the Python API (case 7)

def test_api_calls_that_returned_wrong_results_are_refused():
    """case 7: merge across devices, diffusion(dev, -3), mfpt past the target, Device(grain="x")."""
    dev = nm.load_config(RUNS / "small_switching.toml")
    a = nm.kmc.first_passage(dev, -0.8, 0.8, n_traj=5, seed=1)
    b = nm.kmc.first_passage(dev.replace(h=-0.3), -0.8, 0.8, n_traj=5, seed=1, first_index=5)
    with pytest.raises(nm.ConfigError, match="device"):
        a.merge(b)
    for fn in (nm.continuum.diffusion, nm.continuum.drift):
        with pytest.raises(nm.ConfigError, match=r"\[-1, 1\]"):
            fn(dev, -3.0)
        with pytest.raises(nm.ConfigError, match=r"\[-1, 1\]"):
            fn(dev, np.array([0.0, 0.5, 1.0 + 1e-9]))
        with pytest.raises(nm.ConfigError):
            fn(dev, np.nan)
        assert np.all(np.isfinite(fn(dev, np.linspace(-1, 1, 11))))
    with pytest.raises(nm.ConfigError, match="already lies in the target"):
        nm.exact.mfpt(dev, 0.8000001, 0.8)
    for grain in ("x", None, 3.0, {"S0": 5}):
        with pytest.raises(nm.ConfigError, match="grain"):
            nm.Device(grain=grain)
    with pytest.raises(nm.ConfigError, match="leads"):
        nm.Device(grain=dev.grain, leads="ab")


def test_leads_built_without_names_get_unique_default_names():
    """case 7: two unnamed leads clashed ("names must be unique")."""
    g = nm.Grain(S0=5, alpha=0.01, T=0.1)
    lead = nm.Lead(mu=1.0, gamma_up=1.0, gamma_down=0.5)
    assert lead.name == "lead" and nm.Device(g, (lead,)).leads[0].name == "lead"
    dev = nm.Device(g, (lead, nm.Lead(mu=-1.0, gamma_up=0.5, gamma_down=1.0)))
    assert [x.name for x in dev.leads] == ["lead0", "lead1"]
    named = nm.Device(g, (nm.Lead(0, 1, 1), nm.Lead(0, 1, 1, name="drain"), nm.Lead(0, 1, 1)))
    assert [x.name for x in named.leads] == ["lead0", "drain", "lead2"]
    assert nm.exact.stationary(dev).currents.shape == (2,)
    assert dev.replace(mu={"lead1": 0.0}).leads[1].mu == 0.0
    assert [x.name for x in nm.reduced_device((1, 1, 1, 1), 1.0, 0.0).leads] == ["left", "right"]
    text = to_toml({"grain": single()["grain"], "leads": [{"mu": 1.0, "gamma_up": 1.0, "gamma_down": 1.0}] * 2})
    assert [x.name for x in nm.read_config(_path_of(text)).device.leads] == ["lead0", "lead1"]
    with pytest.raises(nm.ConfigError, match="names must be unique"):
        nm.Device(g, (nm.Lead(0, 1, 1, name="x"), nm.Lead(0, 1, 1, name="x")))


# --------------------------------------------------------------------------------------- properties

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)

_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                 derandomize=True)
NUMERIC_KEYS = [(("grain",), k) for k in ("eta", "kappa", "h", "eps", "alpha", "T")] + \
               [(("leads", 0), k) for k in ("mu", "gamma_up", "gamma_down", "T")] + \
               [(("leads", 1), k) for k in ("gamma_major", "gamma_minor", "theta")] + \
               [(("run",), k) for k in ("start_u", "target_u", "n_traj", "seed", "t_max")]
ANY_VALUE = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                      st.booleans(), st.text(max_size=5), st.sampled_from([0.0, -0.0, 1e-320, 1e150, 1e151, -1.0]))


def _one_line_or_success(argv, capsys):
    TRIED["property"] += 1
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert status in (0, 2), (status, captured.err)
    if status == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nanomag: error: "), captured.err
    return status, captured.out


@settings(max_examples=200, **_SETTINGS)
@given(key=st.sampled_from(NUMERIC_KEYS), value=ANY_VALUE)
def test_property_any_value_of_any_key_gives_a_result_or_one_line(tmp_path, capsys, key, value):
    cfg = single()
    _table(cfg, key[0])[key[1]] = value
    path = tmp_path / "prop.toml"
    path.write_text(to_toml(cfg))
    status, out = _one_line_or_success(["exact", "stationary", path, "--json"], capsys)
    if status == 0:
        currents = json.loads(out)["currents"]
        assert all(math.isfinite(c) for c in currents.values())
        assert abs(sum(currents.values())) <= 1e-6 * max(abs(c) for c in currents.values()) + 1e-9


@settings(max_examples=100, **_SETTINGS)
@given(data=st.binary(max_size=300))
def test_property_any_bytes_as_a_config_file_give_one_line(tmp_path, capsys, data):
    path = tmp_path / "junk.toml"
    path.write_bytes(data)
    assert _one_line_or_success(["exact", "stationary", path], capsys)[0] == 2


@settings(max_examples=150, **_SETTINGS)
@given(data=st.data())
def test_property_any_mutation_of_a_good_file_gives_a_result_or_one_line(tmp_path, capsys, data):
    lines = to_toml(single()).splitlines()
    op = data.draw(st.sampled_from(["delete", "duplicate", "truncate", "replace char", "swap"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "swap":
        j = data.draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "truncate":
        lines[i] = lines[i][: data.draw(st.integers(0, max(0, len(lines[i]) - 1)))]
    elif lines[i]:
        k = data.draw(st.integers(0, len(lines[i]) - 1))
        lines[i] = lines[i][:k] + data.draw(st.sampled_from(list("=[]{}\"'#.,-+e0x \\"))) + lines[i][k + 1:]
    path = tmp_path / "mutant.toml"
    path.write_text("\n".join(lines) + "\n")
    _one_line_or_success(["exact", "stationary", path], capsys)


_NOT_A_NUMBER = st.text(max_size=8).filter(lambda s: _float_or_none(s) is None)


def _float_or_none(text):
    try:
        return float(text)
    except ValueError:
        return None


@settings(max_examples=200, **_SETTINGS)
@given(text=st.one_of(st.text(max_size=8), st.floats().map(repr), st.integers(-10**6, 10**6).map(str)))
def test_property_argument_types_accept_exactly_their_domain(text):
    import argparse

    from nanomag.cli.common import finite_float, int_at_least, positive_float, positive_int

    TRIED["property"] += 1
    for parse, ok in ((positive_float, lambda v: math.isfinite(v) and v > 0),
                      (finite_float, math.isfinite), (positive_int, lambda v: v >= 1),
                      (int_at_least(2), lambda v: v >= 2)):
        try:
            value = parse(text)
        except argparse.ArgumentTypeError:
            continue
        assert ok(value), (parse, text, value)


@settings(max_examples=60, **_SETTINGS)
@given(flag=st.sampled_from(["--dt", "--n-traj", "--seed", "--start-u", "--target-u"]), text=_NOT_A_NUMBER)
def test_property_non_numbers_for_numeric_flags_give_one_line(tmp_path, capsys, flag, text):
    path = tmp_path / "good.toml"
    path.write_text(to_toml(single()))
    if text.startswith("-") and len(text) > 1:
        text = "x" + text  # argparse reads "-y" as an option
    TRIED["property"] += 1
    status = main(["compare", str(path), "--out", str(tmp_path / "c.png"), flag, text])
    captured = capsys.readouterr()
    assert status == 2 and "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------- issue 20: rare and pulse

def _rare_config(tmp_path) -> Path:
    """A cheap activated switch (S0 = 6) for ``nanomag rare`` (seconds)."""
    cfg = tmp_path / "rare.toml"
    cfg.write_text((RUNS / "rare_switching.toml").read_text().replace("S0 = 20", "S0 = 6"))
    return cfg


def test_case1_a_finished_rare_file_is_not_replaced_by_run_resume(tmp_path, capsys):
    """issue 20 case 1: `run --resume` on a finished rare file (same config text and seed) replaced it."""
    import hashlib

    cfg = _rare_config(tmp_path)
    out = tmp_path / "rare.h5"
    assert main(["rare", str(cfg), "--out", str(out), "--quiet", "--rtol", "0.5", "--no-exact"]) == 0
    capsys.readouterr()
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    refused(["run", cfg, "--out", out, "--resume", "--quiet"], capsys, "switching_rate", "refusing")
    refused(["run", cfg, "--out", out, "--quiet"], capsys, "switching_rate", "refusing")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest


def _special_files(tmp_path) -> dict:
    """A FIFO, a character device (a copy of /dev/null's numbers, made in tmp_path; root only), a symlink
    loop and a symlink to a regular file: none may be written through or replaced."""
    import stat

    made = {}
    fifo = tmp_path / "fifo.h5"
    os.mkfifo(fifo)
    made["FIFO"] = fifo
    node = tmp_path / "null.h5"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        made["device node"] = node
    except (PermissionError, OSError):
        pass
    loop = tmp_path / "loop.h5"
    loop.symlink_to(loop.name)
    made["symlink loop"] = loop
    target = tmp_path / "target.h5"
    target.write_bytes(b"precious")
    link = tmp_path / "link.h5"
    link.symlink_to(target.name)
    made["symlink"] = link
    return made


def _snapshot(paths) -> dict:
    return {p: (os.lstat(p).st_mode, os.lstat(p).st_ino, os.lstat(p).st_rdev) for p in paths}


@pytest.mark.parametrize("command", ["run", "spectroscopy", "pulse", "rare"])
def test_case2_special_files_are_never_written_through_or_replaced(tmp_path, capsys, command):
    """issue 20 case 2: --force replaced device nodes, FIFOs and symlinks (and run --out LOOP without it)."""
    cfg = _rare_config(tmp_path)
    pulse_cfg = tmp_path / "pulse.toml"
    pulse_cfg.write_text((RUNS / "pulse.toml").read_text())
    argv = {"run": ["run", cfg, "--quiet"], "rare": ["rare", cfg, "--quiet"],
            "pulse": ["pulse", pulse_cfg, "--quiet"],
            "spectroscopy": ["spectroscopy", cfg, "--vg", "-1", "1", "2", "--vbias", "-1", "1", "2", "--quiet"]}
    special = _special_files(tmp_path)
    before = _snapshot(special.values())
    for path in special.values():
        for extra in (["--force"], [], ["--resume"]):
            if extra == ["--resume"] and command in ("spectroscopy", "pulse"):
                continue
            refused(argv[command] + ["--out", path] + extra, capsys, str(path.name), "not a regular file")
    assert _snapshot(special.values()) == before
    assert (tmp_path / "target.h5").read_bytes() == b"precious"


def test_case6_special_config_files_are_refused_at_once(tmp_path, capsys):
    """issue 20 case 6: a FIFO as config hung every command; /dev/zero was read until memory ran out."""
    import stat

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    configs = [fifo]
    zero = tmp_path / "zero.toml"
    try:
        os.mknod(zero, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero's numbers, in tmp_path
        configs.append(zero)
    except (PermissionError, OSError):
        pass
    for cfg in configs:
        for command in COMMANDS:
            argv, files = _commands(cfg, tmp_path)[command]
            refused(argv, capsys, "not a regular file", files=files)


def test_case6_the_config_read_is_capped_whatever_st_size_says(tmp_path, monkeypatch):
    """issue 20 case 6: read_config trusted st_size; the read itself is now capped."""
    from nanomag.io import config as config_module

    monkeypatch.setattr(config_module, "MAX_FILE_BYTES", 100)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 200 + "\n")
    with pytest.raises(nm.ConfigError, match="bytes"):
        config_module.read_config(big)


def test_case11_toml_nested_thousands_deep_is_one_line(tmp_path, capsys):
    """issue 20 case 11: TOML nested 2000 deep gave a RecursionError in every command."""
    cfg = tmp_path / "deep.toml"
    cfg.write_text("a = " + "[" * 2000 + "]" * 2000 + "\n")
    for command in COMMANDS:
        argv, files = _commands(cfg, tmp_path)[command]
        refused(argv, capsys, "nested too deeply", files=files)


def test_case12_an_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    """issue 20 case 12: --out '' silently used the default name."""
    monkeypatch.chdir(tmp_path)
    cfg = _rare_config(tmp_path)
    pulse_cfg = tmp_path / "pulse.toml"
    pulse_cfg.write_text((RUNS / "pulse.toml").read_text())
    for argv in (["run", cfg, "--quiet"], ["rare", cfg, "--quiet"], ["pulse", pulse_cfg, "--quiet"],
                 ["spectroscopy", cfg, "--vg", "-1", "1", "2", "--vbias", "-1", "1", "2", "--quiet"],
                 ["compare", cfg, "--n-traj", "10", "--quiet"]):
        before = set(tmp_path.iterdir())
        refused(argv + ["--out", ""], capsys, "--out", "empty")
        assert set(tmp_path.iterdir()) == before


def _rare_pulse_flag_cases():
    """Every flag of `rare` and `pulse` with bad values (issue 20: their flag tables had no case)."""
    rare = ["rare", "{cfg}", "--out", "{tmp}/r.h5", "--quiet"]
    wer = ["rare", "{pcfg}", "--out", "{tmp}/r.h5", "--quiet"]
    pulse = ["pulse", "{pcfg}", "--out", "{tmp}/w.h5", "--quiet"]
    bad_float = {"zero": "0", "negative": "-1", "nan": "nan", "inf": "inf", "text": "x", "empty": ""}
    bad_count = {"zero": "0", "negative": "-3", "text": "x", "fraction": "2.5", "exponent": "1e3"}
    cases = []
    for flag in ("--rtol", "--max-events"):
        for label, v in bad_float.items():
            cases.append((f"rare {flag} {label}", rare + [flag, v], flag))
    cases.append(("rare --rtol 1e-200 (case 11)", rare + ["--rtol", "1e-200"], "--rtol"))
    for flag in ("--trials", "--launches", "--bins", "--walkers", "--steps", "--workers"):
        for label, v in bad_count.items():
            cases.append((f"rare {flag} {label}", rare + [flag, v], flag))
    for label, v in {"one": "1", "zero": "0", "text": "x"}.items():
        cases.append((f"rare --min-replicas {label}", rare + ["--min-replicas", v], "--min-replicas"))
    cases += [
        ("rare --trials beyond the stream layout", rare + ["--trials", str(2**24 + 1)], "trials"),
        ("rare --launches 1e18 (case 11)", rare + ["--launches", "1" + "0" * 18], "--force-size"),
        ("rare --min-replicas 1e9 (case 7)", rare + ["--min-replicas", "1" + "0" * 9], "--force-size"),
        ("rare --workers 1e30 (case 8)", rare + ["--workers", "1e30"], "--workers"),
        ("rare --workers a million (case 8)", rare + ["--workers", "1000000"], "--workers"),
        ("rare --interfaces text", rare + ["--interfaces", "x"], "--interfaces"),
        ("rare --interfaces outside", rare + ["--interfaces", "0.9"], "interfaces"),
        ("rare --interfaces decreasing", rare + ["--interfaces", "-0.2,-0.5"], "interfaces"),
        ("rare --interfaces empty", rare + ["--interfaces", ","], "interfaces"),
        ("rare --interfaces with a protocol", wer + ["--interfaces", "0.1"], "--interfaces"),
        ("rare --walkers beyond the ensemble's size", wer + ["--walkers", "100000000"], "walkers"),
        ("rare --resume and --force", rare + ["--resume", "--force"], "choose one"),
        ("rare --resume of nothing", rare + ["--resume"], "does not exist"),
        ("rare --out a directory", ["rare", "{cfg}", "--out", "{tmp}", "--quiet"], "directory"),
        ("rare --out empty (case 12)", ["rare", "{cfg}", "--out", "", "--quiet"], "empty"),
        ("rare unknown flag", rare + ["--chunk-size", "3"], "unrecognized"),
        ("rare without config", ["rare"], "config"),
        ("pulse without a protocol", ["pulse", "{cfg}", "--out", "{tmp}/w.h5", "--quiet"], "protocol"),
        ("pulse --vary unknown", pulse + ["--vary", "nope"], "--vary"),
        ("pulse --vary an unknown lead", pulse + ["--vary", "mu.nope"], "--vary"),
        ("pulse --vary duration (case 12)", pulse + ["--vary", "duration", "--heights", "1", "2", "3"], "--widths"),
        ("pulse --heights without --vary", pulse + ["--heights", "1", "2", "3"], "--vary"),
        ("pulse --widths 1e20 (case 11)", pulse + ["--widths", "0", "600", "1e20"], "--widths"),
        ("pulse widths x heights (case 12)", pulse + ["--widths", "0", "600", "1000000", "--vary", "mu.left",
                                                      "--heights", "1", "2", "1000000"], "would take"),
        ("pulse --widths LO < 0", pulse + ["--widths", "-1", "600", "3"], "--widths"),
        ("pulse --widths unknown unit", pulse + ["--widths", "0", "10parsec", "3"], "--widths"),
        ("pulse --segment out of range", pulse + ["--segment", "5"], "--segment"),
        ("pulse --segment negative", pulse + ["--segment", "-1"], "--segment"),
        ("pulse --segment text", pulse + ["--segment", "x"], "--segment"),
        ("pulse --workers a million (case 8)", pulse + ["--workers", "1000000"], "--workers"),
        ("pulse --workers 1e30 (case 8)", pulse + ["--workers", "1e30"], "--workers"),
        ("pulse --plot unknown format", pulse + ["--plot", "{tmp}/m.xyz"], "--plot"),
        ("pulse --plot equals --out", ["pulse", "{pcfg}", "--out", "{tmp}/w.png", "--plot", "{tmp}/w.png"], "--plot"),
        ("pulse --out a directory", ["pulse", "{pcfg}", "--out", "{tmp}", "--quiet"], "directory"),
        ("pulse --out empty (case 12)", ["pulse", "{pcfg}", "--out", "", "--quiet"], "empty"),
        ("pulse unknown flag", pulse + ["--resume"], "unrecognized"),
    ]
    for axis in ("--widths", "--heights"):
        extra = ["--vary", "mu.left"] if axis == "--heights" else []
        for label, trio in {"HI < LO": ["600", "0", "3"], "N = 0": ["0", "1", "0"], "N fractional": ["0", "1", "2.5"],
                            "NaN": ["nan", "1", "3"], "inf": ["0", "inf", "3"], "text": ["0", "x", "3"]}.items():
            cases.append((f"pulse {axis} {label}", pulse + extra + [axis] + trio, axis))
    for flag in ("--start-u", "--target-u"):
        for label, v in {"above 1": "1.5", "nan": "nan", "text": "x"}.items():
            cases.append((f"pulse {flag} {label}", pulse + [flag, v], flag.strip("-")[:5]))
    return cases


RARE_PULSE_FLAG_CASES = _rare_pulse_flag_cases()


@pytest.mark.parametrize("label,argv,message", RARE_PULSE_FLAG_CASES, ids=[c[0] for c in RARE_PULSE_FLAG_CASES])
def test_every_bad_rare_and_pulse_flag_is_refused(tmp_path, capsys, good_config, label, argv, message):
    """issue 20: every flag of rare and pulse, one line and exit 2, nothing written."""
    pcfg = tmp_path / "protocol.toml"
    pcfg.write_text(to_toml(with_protocol()))
    argv = [a.format(cfg=good_config, pcfg=pcfg, tmp=tmp_path) for a in argv]
    before = set(tmp_path.iterdir())
    refused(argv, capsys, message)
    assert set(tmp_path.iterdir()) == before, "an output file was written"


def test_case7_rare_refuses_what_cannot_fit_before_any_file(tmp_path, capsys, eight_gigabytes):
    """issue 20 case 7: rare allocated for 27 s on S0 = 1e8 and hung on 30 000 segments; --force-size did nothing."""
    huge = single()
    huge["grain"]["S0"] = 1e8
    cfg = tmp_path / "huge.toml"
    cfg.write_text(to_toml(huge))
    out = tmp_path / "r.h5"
    refused(["rare", cfg, "--out", out, "--quiet"], capsys, "--force-size", files=[out])
    many = with_protocol()
    many["protocol"] = [{"duration": 1.0, "h": 0.1}] * 1001
    cfg.write_text(to_toml(many))
    refused(["rare", cfg, "--out", out, "--quiet"], capsys, "1001 segments", "--force-size", files=[out])
    slow = with_protocol()
    slow["protocol"] = [{"duration": 1e12, "h": 0.1}]
    cfg.write_text(to_toml(slow))
    refused(["rare", cfg, "--out", out, "--quiet"], capsys, "would take", "--force-size", files=[out])


@pytest.mark.parametrize("label,change,message", [
    ("seed = 2**200", ("run", "seed", 2**200), "seed"),
    ("a 5000-digit integer", ("run", "seed", 777), "digits"),
    ("duration = 1e-320", ("protocol", "duration", 1e-320), "duration"),
])
def test_case11_rare_and_pulse_tracebacks_are_one_line(tmp_path, capsys, label, change, message):
    """issue 20 case 11: these gave tracebacks (and seed = 2**200 left a .partial)."""
    cfg = with_protocol()
    where, key, value = change
    (cfg[where][0] if where == "protocol" else cfg[where])[key] = value
    path = tmp_path / "bad.toml"
    text = to_toml(cfg)
    if label == "a 5000-digit integer":
        text = text.replace("seed = 777", "seed = " + "9" * 5000)
    path.write_text(text)
    for command in ("rare",) if label == "seed = 2**200" else ("rare", "pulse"):  # pulse draws no random number
        argv, files = _commands(path, tmp_path)[command]
        refused(argv, capsys, message, files=files)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_case11_a_protocol_whose_replicas_all_give_wer_one_reports(tmp_path, capsys):
    """issue 20 case 11: all replicas at WER = 1 gave a ZeroDivisionError after writing the file."""
    cfg = with_protocol()
    cfg["protocol"][0]["duration"] = 1e-6  # nothing happens: the bit stays, WER = 1 in every replica
    path = tmp_path / "one.toml"
    path.write_text(to_toml(cfg))
    out = tmp_path / "one.h5"
    assert main(["rare", str(path), "--out", str(out), "--quiet", "--json", "--no-exact"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert json.loads(captured.out)["wer"] == 1.0


def test_case12_rare_force_keeps_the_old_result_until_the_new_one_is_complete(tmp_path, capsys, monkeypatch):
    """issue 20 case 12: rare --force destroyed the old result at start."""
    import hashlib

    from nanomag.run import rare as rare_room

    cfg = tmp_path / "rare.toml"
    cfg.write_text((RUNS / "rare_switching.toml").read_text().replace("S0 = 20", "S0 = 6"))
    out = tmp_path / "rare.h5"
    assert main(["rare", str(cfg), "--out", str(out), "--quiet", "--rtol", "0.5", "--no-exact"]) == 0
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    seen = []

    def on_save(n):  # every save before the last: the old result is untouched, the new run is beside it
        seen.append((hashlib.sha256(out.read_bytes()).hexdigest(), rare_room.new_path(out).exists()))

    original = rare_room.run_rare
    monkeypatch.setattr(rare_room, "run_rare", lambda *a, **kw: original(*a, **kw, on_save=on_save, save_interval=0))
    assert main(["rare", str(cfg), "--out", str(out), "--quiet", "--rtol", "0.3", "--force", "--no-exact"]) == 0
    capsys.readouterr()
    assert len(seen) >= 2 and all(d == digest and beside for d, beside in seen[:-1])
    assert hashlib.sha256(out.read_bytes()).hexdigest() != digest and not rare_room.new_path(out).exists()


def test_case12_silently_wrong_api_calls_are_refused():
    """issue 20 case 12: rational_propagate took unsorted/negative/NaN times, propagate(tol=-1) hung,
    Segment(mu={-1: ...}) set the last lead."""
    from nanomag.markov.chain import propagate
    from nanomag.markov.rates import build
    from nanomag.markov.stiff import rational_propagate

    model = build(nm.Device(grain=nm.Grain(S0=2, kappa=1.0, h=0.1, alpha=0.1, T=0.3)))
    p0 = np.zeros(model.n_states)
    p0[0] = 1.0
    for times in ([2.0, 1.0], [-1.0, 1.0], [math.nan], [[1.0]]):
        with pytest.raises(nm.ConfigError, match="times"):
            rational_propagate(model.generator, p0, np.array(times))
    for tol in (-1, 0, math.nan, 2.0):
        with pytest.raises(nm.ConfigError, match="tol"):
            propagate(model.generator, p0, [1.0], tol=tol)
    with pytest.raises(nm.ConfigError, match="lead index"):
        nm.Segment(1.0, mu={-1: 0.3})
