"""Smoke test of scripts/telegraph_study.py --quick (~ 20 s): its printed table against nm.exact.

Tolerances: each KMC number carries a standard error over >= 8 independent traces; |z| < 4.5 for the
7 scalars and the 2 x 2 swept p_up / Fano values (t_7 two-sided tail <= 2.8e-3 each for the 8-trace sweep
points, <= 4e-4 for the 16-trace scalars; Bonferroni over 11 comparisons < 1.5 %, with fixed seeds), and
max |z| < 5.5 for the PSD bins against their exact expected Welch estimate.
"""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import nanomag as nm

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("telegraph_study", ROOT / "scripts" / "telegraph_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick(study, tmp_path_factory):
    import contextlib
    import io

    out = io.StringIO()
    png = tmp_path_factory.mktemp("study") / "telegraph_study.png"
    with contextlib.redirect_stdout(out):
        result = study.main(["--quick", "--out", str(png)])
    return result, out.getvalue(), png


def _rows(text, first):
    """The '|'-separated cells of the printed rows whose first cell is ``first``."""
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|") and line.strip("|").split("|")[0].strip() == first]


def test_printed_scalars_are_exact_and_agree(study, quick):
    _, text, _ = quick
    dev = study.study_device()
    tele = nm.exact.telegraph(dev)
    cnt = nm.exact.counting(dev, "left", order=2)
    exact = {"dwell_up": tele.dwell_up, "dwell_down": tele.dwell_down, "p_up": tele.p_up, "rate": tele.rate,
             "kappa_1 (left)": cnt.cumulants[0], "kappa_2 (left)": cnt.cumulants[1], "Fano (left)": cnt.fano}
    for name, value in exact.items():
        (row,) = _rows(text, name)
        printed_exact, kmc, err, z = (float(x) for x in row[1:])
        assert printed_exact == pytest.approx(value, rel=1e-4)  # printed to 5 digits
        assert abs(kmc - value) < 4.5 * err and abs(z) < 4.5, (name, row)
    # at the threshold: p_up ~ 1/2, and a giant, super-Poissonian Fano factor
    assert 0.4 < tele.p_up < 0.6 and cnt.fano > 10


def test_psd_rows_cover_the_decades(quick):
    result, text, _ = quick
    rows = [r for r in (line for line in text.splitlines()) if re.match(r"\|\s+1e[+-]\d", r)]
    assert len(rows) == len(result["decades"]) >= 8
    decades = {d for d, *_ in result["decades"]}
    assert decades >= set(range(-4, 4))  # KMC bins in 8 decades, 1e-4 ... 1e3
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[5]) < 5.5, row  # max |z| against the exact expected Welch estimate
    # and the expectation the table uses is nm.exact.welch_expectation's
    s, expect = result["samples"][0], result["expects"][0]
    np.testing.assert_allclose(expect, nm.exact.welch_expectation(s.device, s.grid_dt, s.nperseg)[1])


def test_sweep_is_a_sigmoid_with_a_giant_fano_factor(study, quick):
    result, text, png = quick
    mus, sweep, fano = result["sweep_mus"], result["sweep"], result["fano"]
    assert sweep.p_up[0] < 0.1 and sweep.p_up[-1] > 0.99 and np.all(np.diff(sweep.p_up) > 0)
    peak = int(np.argmax(fano))
    assert 0.3 < sweep.p_up[peak] < 0.7  # the Fano peak is at the threshold
    assert fano[peak] > 15 and fano[-1] < 1  # giant there, sub-Poissonian far above
    exact_fano = [nm.exact.counting(study.study_device(m), "left", order=2).fano for m in mus[::8]]
    np.testing.assert_allclose(fano[::8], exact_fano, rtol=1e-12)
    rows = [r for r in _rows(text, "V")]
    assert rows  # the headers
    for m, p, pk, pe, f, fk, fe in result["kmc"]:
        assert abs(pk - p) < 4.5 * pe and abs(fk - f) < 4.5 * fe
        assert p == pytest.approx(nm.exact.telegraph(study.study_device(m)).p_up, rel=1e-10)
    assert png.exists() and png.stat().st_size > 10_000
