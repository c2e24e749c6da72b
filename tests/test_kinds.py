"""The table of run kinds (nanomag.io.kinds.RUN_KINDS, nanomag.io.rare.RARE_KINDS): each entry is complete, and a
new kind is one entry (the CLI, run/ and io/ need no other change)."""

import dataclasses

import h5py
import numpy as np
import pytest

import nanomag as nm
from nanomag.errors import ConfigError
from nanomag.io import kinds
from nanomag.io.config import parse_config
from nanomag.io.rare import RARE_KINDS
from nanomag.run.tasks import RunSolver

from devices import RUNS

RUN_TABLES = {
    "first_passage": '[run]\nkind = "first_passage"\nstart_u = -0.8\ntarget_u = 0.8\nn_traj = 30\nseed = 4\n',
    "trajectories": '[run]\nkind = "trajectories"\nstart_u = -0.8\nt_final = 15.0\nn_times = 4\nn_traj = 30\n'
                    'seed = 4\n',
    "telegraph": '[run]\nkind = "telegraph"\nduration = 400.0\nn_traj = 30\nseed = 4\nwindow = 100.0\n'
                 'grid_dt = 1.0\nnperseg = 64\nthreshold = 0.3\n',
}


def _text(run_table: str) -> str:
    return (RUNS / "small_switching.toml").read_text().split("[run]")[0] + run_table


def test_every_kind_has_a_config_example_here():
    assert set(RUN_TABLES) == set(kinds.RUN_KINDS)


@pytest.mark.parametrize("name", sorted(kinds.RUN_KINDS))
def test_a_kind_needs_its_keys_and_its_work_unit_gives_its_datasets(name):
    kind = kinds.run_kind(name)
    text = _text(RUN_TABLES[name])
    cfg = parse_config(text, "<test>")
    for key in kind.required:
        if key != "seed":
            with pytest.raises(ConfigError, match=key):
                parse_config("\n".join(line for line in text.splitlines() if not line.startswith(key)), "<test>")
    solver = RunSolver(cfg.device)
    block = kind.sample(solver, cfg, 5, 3)
    assert set(kind.keys) | {"n_events", "event_counts", "wall_time"} == set(block)
    for d in kind.datasets:
        assert block[d.name].shape == d.shape(3, cfg.run.n_times or 0, cfg.device.n_leads, kind.axis_sizes(cfg)), d
        assert block[d.name].dtype == np.dtype(d.dtype), d


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(ConfigError, match="first_passage, trajectories, telegraph"):
        parse_config(_text(RUN_TABLES["first_passage"].replace('"first_passage"', '"dwell_records"')), "<test>")


def test_a_new_kind_is_one_entry(tmp_path, monkeypatch):
    """A copy of the trajectories entry under a new name and group runs, writes, sizes and reads back through the
    same code: nothing outside the table names a kind."""
    from nanomag.run.files import ensemble_bytes
    from nanomag.run.parallel import run_ensemble

    new = dataclasses.replace(kinds.RUN_KINDS["trajectories"], name="records", group="records")
    monkeypatch.setitem(kinds.RUN_KINDS, "records", new)
    path = tmp_path / "records.toml"
    path.write_text(_text(RUN_TABLES["trajectories"].replace('"trajectories"', '"records"')))
    cfg = nm.read_config(path)
    summary = run_ensemble(cfg, tmp_path / "records.h5", quiet=True)
    assert summary.complete and summary.kind == "records"
    with h5py.File(tmp_path / "records.h5") as h5:
        assert h5.attrs["kind"] == "records" and "records/u" in h5 and "trajectories" not in h5
        assert h5["records/u"].attrs["units"] == "1" and h5["records/u"].attrs["long_name"] == "S_z / S_n"
    back = nm.io.read_ensemble(tmp_path / "records.h5")
    direct = nm.kmc.trajectories(cfg.device, -0.8, kinds.record_times(cfg), n_traj=30, seed=4)
    np.testing.assert_array_equal(back.u, direct.u)
    assert ensemble_bytes(cfg, 30) > 30 * new.bytes_per_trajectory(4, 2)


def test_the_rare_kinds_and_their_reports():
    from nanomag.cli.rare import REPORTS

    assert set(REPORTS) == set(RARE_KINDS)
    assert [k.name for k in RARE_KINDS.values() if k.with_protocol] == ["write_error_rate"]
    from nanomag.io.rare import RareSpec

    spec_fields = {f.name for f in dataclasses.fields(RareSpec)}
    for kind in RARE_KINDS.values():
        assert set(kind.settings) <= spec_fields, kind.name
        spec = RareSpec(start_u=-0.8, target_u=0.8, seed=1, kind=kind.name)
        assert set(spec.fixed()) == {"min_replicas", "confidence", *kind.settings}
    with pytest.raises(ConfigError, match="switching_rate, write_error_rate"):
        RareSpec(start_u=-0.8, target_u=0.8, seed=1, kind="telegraph").settings()
