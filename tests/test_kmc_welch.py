"""The telegraph sampler's Welch periodograms (numpy) are scipy.signal's."""

import numpy as np
import pytest

from nanomag.kmc.telegraph import _hann, _welch_segments


@pytest.mark.parametrize("n, nperseg, grid_dt", [(5001, 64, 1.0), (777, 33, 0.3), (1000, 101, 0.5), (64, 64, 2.0)])
def test_welch_segments_are_scipys_spectrogram(n, nperseg, grid_dt):
    from scipy.signal import get_window, spectrogram

    u = np.random.default_rng(n).normal(size=(3, n)).cumsum(axis=1) * 0.01
    freqs, _, per = spectrogram(u, fs=1.0 / grid_dt, window="hann", nperseg=nperseg, noverlap=nperseg // 2,
                                detrend="constant", scaling="density", mode="psd", axis=-1)
    got = _welch_segments(u, grid_dt, nperseg)
    np.testing.assert_array_equal(got[0], freqs)
    # rounding only: the same steps, possibly another FFT library
    np.testing.assert_allclose(got[1], per.mean(axis=-1), rtol=1e-12, atol=1e-14 * np.abs(per).max())
    np.testing.assert_allclose(got[2], (per**2).mean(axis=-1), rtol=1e-12, atol=1e-14 * (per**2).max())
    np.testing.assert_array_equal(_hann(nperseg), get_window("hann", nperseg))
