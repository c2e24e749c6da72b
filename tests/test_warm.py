"""``nanomag warm``: compiles the named engines' kernels, reports each, refuses an unknown engine."""

import json

import pytest

from nanomag.cli.main import main
from nanomag.cli.warm import WARMUPS, cache_dir, warm
from nanomag.errors import ConfigError


def test_warm_runs_the_named_engines_and_names_the_cache(capsys):
    assert main(["warm", "spectroscopy", "fokker-planck", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out["cpu_seconds"]) == ["spectroscopy", "fokker-planck"]
    assert out["cache_dir"] == cache_dir() and out["total"] >= 0.0
    assert main(["warm", "spectroscopy"]) == 0
    text = capsys.readouterr().out
    assert "[1/1] spectroscopy" in text and "numba cache:" in text


def test_warm_refuses_an_unknown_engine(capsys):
    with pytest.raises(ConfigError, match="unknown bogus"):
        warm(["bogus"])
    assert main(["warm", "bogus"]) != 0
    assert "unknown bogus" in capsys.readouterr().err
    assert set(WARMUPS) >= {"kmc", "exact", "langevin", "rare"}
