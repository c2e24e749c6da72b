"""Random numbers inside numba kernels: one xoshiro256** stream per trajectory.

Trajectory i of a run with root seed ``seed`` uses the stream whose state is
``numpy.random.SeedSequence(seed, spawn_key=(i,)).generate_state(4, np.uint64)``:
exactly the state of ``SeedSequence(seed).spawn(n)[i]``.  That hash is
re-implemented here (and tested bit for bit against numpy), so seeding a
trajectory costs ~0.1 us instead of ~30 us: in numba (:func:`xo_seed`, for
kernels that seed inside) and in numpy, vectorised over all the streams of a
call (:func:`stream_states`: the KMC kernels take these states and compile no
seeding).  A trajectory's numbers therefore depend only on (seed, i), never on
chunking, threads or ranks.

xoshiro256** is Blackman & Vigna's generator (period 2^256 - 1); doubles are
the top 53 bits; unit exponentials come from a 256-layer ziggurat (:func:`nanomag._ziggurat.xo_exponential`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._inline import always_inline, private_inlined
from ._validate import POOL_WORDS as _POOL, entropy_words

__all__ = ["entropy_words", "next_u64", "next_double", "next_open_double", "stream_states",
           "xoshiro_states"]

# numba promotes uint64 mixed with int64 to float64: every constant is uint64
_M32 = np.uint64(0xFFFFFFFF)
_INIT_A = np.uint64(0x43B0D7E5)
_MULT_A = np.uint64(0x931E8875)
_INIT_B = np.uint64(0x8B51F9DD)
_MULT_B = np.uint64(0x58F38DED)
_MIX_MULT_L = np.uint64(0xCA01F9DD)
_MIX_MULT_R = np.uint64(0x4973F715)
_S16 = np.uint64(16)
_S32 = np.uint64(32)


@private_inlined
def _pooled_state(p0, p1, p2, p3, hc, index):
    """The stream state of trajectory ``index`` from the root pool (p0 .. p3) and its hash constant ``hc``: the
    spawn key's one or two 32-bit words mixed into each pool word in turn, then generate_state(4, uint64);
    returns 4 uint64.  One loop per phase, the pool rotating through p0 (one small function to compile)."""
    always_inline()
    index = np.uint64(index)
    n_key = 1 if index <= _M32 else 2
    for k in range(4 * n_key):
        value = index & _M32 if k < 4 else index >> _S32
        value = (value ^ hc) & _M32  # SeedSequence's hashmix
        hc = (hc * _MULT_A) & _M32
        value = (value * hc) & _M32
        value ^= value >> _S16
        mixed = (_MIX_MULT_L * p0 - _MIX_MULT_R * value) & _M32
        p0, p1, p2, p3 = p1, p2, p3, mixed ^ (mixed >> _S16)
    out0 = out1 = out2 = out3 = np.uint64(0)
    hb = _INIT_B
    for k in range(8):  # 8 hashed words (pool words 0, 1, 2, 3, 0, ...), little-endian pairs
        value = (p0 ^ hb) & _M32
        hb = (hb * _MULT_B) & _M32
        value = (value * hb) & _M32
        value ^= value >> _S16
        p0, p1, p2, p3 = p1, p2, p3, p0
        word = value << _S32 if k & 1 else value
        if k < 2:
            out0 |= word
        elif k < 4:
            out1 |= word
        elif k < 6:
            out2 |= word
        else:
            out3 |= word
    return out0, out1, out2, out3


@njit(cache=True)
def xo_seed(words, index):
    """Scalar state of trajectory ``index`` of the root entropy ``words`` (uint64 holding 32-bit words, at
    least four, as :func:`entropy_words` gives them): returns 4 uint64.

    Bit-identical to SeedSequence(seed, spawn_key=(index,)).generate_state(4, np.uint64).  Scalar code
    without allocation (every stochastic engine compiles it; seeding runs once per trajectory): the pool
    of the root entropy (what :func:`root_pool` computes in Python), then :func:`_pooled_state`, the one
    helper that the pooled seeding of the rare-event kernels compiles too.
    """
    # the pool: the first four words hashed into it; each pool word mixed into the three others (in that
    # order); the remaining words mixed into all four
    hc = _INIT_A
    p0 = p1 = p2 = p3 = np.uint64(0)
    for step in range(_POOL + 12 + 4 * (words.size - _POOL)):
        if step < _POOL:
            value = words[step]
            dst = step
        elif step < _POOL + 12:
            src = (step - _POOL) // 3
            dst = (step - _POOL) % 3
            dst += dst >= src
            value = p0 if src == 0 else p1 if src == 1 else p2 if src == 2 else p3
        else:
            value = words[_POOL + (step - _POOL - 12) // 4]
            dst = (step - _POOL - 12) % 4
        value = (value ^ hc) & _M32  # SeedSequence's hashmix
        hc = (hc * _MULT_A) & _M32
        value = (value * hc) & _M32
        value ^= value >> _S16
        if step >= _POOL:  # mixed into the pool word dst
            old = p0 if dst == 0 else p1 if dst == 1 else p2 if dst == 2 else p3
            mixed = (_MIX_MULT_L * old - _MIX_MULT_R * value) & _M32
            value = mixed ^ (mixed >> _S16)
        if dst == 0:
            p0 = value
        elif dst == 1:
            p1 = value
        elif dst == 2:
            p2 = value
        else:
            p3 = value
    return _pooled_state(p0, p1, p2, p3, hc, index)


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, inline="always")
def next_u64(s):
    """xoshiro256**: advance the state ``s`` (4 uint64) and return 64 random bits."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True, inline="always")
def next_double(s):
    """Uniform double in [0, 1)."""
    return np.float64(next_u64(s) >> np.uint64(11)) * 1.1102230246251565e-16


@njit(cache=True, inline="always")
def next_open_double(s):
    """Uniform double in (0, 1]: safe inside log()."""
    return (np.float64(next_u64(s) >> np.uint64(11)) + 1.0) * 1.1102230246251565e-16


def root_pool(words: np.ndarray) -> np.ndarray:
    """The SeedSequence pool of the root entropy ``words`` and its hash constant, shape (5,) uint64.

    What :func:`xo_seed` computes before it mixes in the spawn key (in
    plain Python: it runs once per call); with it, :func:`xo_seed_pooled` seeds
    a stream in a few dozen integer operations and no allocation (the same
    state, bit for bit).
    """
    m32 = 0xFFFFFFFF
    hc = int(_INIT_A)

    def hashmix(value: int) -> int:
        nonlocal hc
        value = (value ^ hc) & m32
        hc = (hc * int(_MULT_A)) & m32
        value = (value * hc) & m32
        return value ^ (value >> 16)

    def mix(x: int, y: int) -> int:
        r = (int(_MIX_MULT_L) * x - int(_MIX_MULT_R) * y) & m32
        return r ^ (r >> 16)

    entropy = [int(w) for w in words]
    pool = [hashmix(entropy[i] if i < len(entropy) else 0) for i in range(_POOL)]
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hashmix(pool[i_src]))
    for i_src in range(_POOL, len(entropy)):
        for i_dst in range(_POOL):
            pool[i_dst] = mix(pool[i_dst], hashmix(entropy[i_src]))
    return np.array(pool + [hc], dtype=np.uint64)


@private_inlined
def xo_seed_pooled(root, index):
    """Scalar state of trajectory ``index`` from :func:`root_pool` (equal to :func:`xo_seed`); from kernels only
    (no Python entry point)."""
    always_inline()
    return _pooled_state(root[0], root[1], root[2], root[3], root[4], index)


def stream_states(words: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The stream states of trajectories ``indices`` of the root entropy ``words``, shape (n, 4) uint64.

    Row i is bit for bit ``SeedSequence(seed, spawn_key=(indices[i],)).generate_state(4, np.uint64)``, as
    :func:`xo_seed` gives it inside a kernel, but computed here in numpy, vectorised over all the streams
    of a call (a few dozen array operations: no compiled seeding in the kernels that take these states).

    Parameters
    ----------
    words : ndarray of uint64
        The root entropy, as :func:`entropy_words` gives it.
    indices : array_like of int, shape (n,)
        Trajectory indices, >= 0.
    """
    root = root_pool(words)
    index = np.asarray(indices, dtype=np.uint64).reshape(-1)
    n = index.size
    p0, p1, p2, p3 = (np.full(n, root[k]) for k in range(4))
    hc = np.full(n, root[4])
    two = index > _M32  # spawn keys of two 32-bit words
    for k in range(8 if two.any() else 4):
        value = (index & _M32) if k < 4 else (index >> _S32)
        value = (value ^ hc) & _M32  # SeedSequence's hashmix
        hc_next = (hc * _MULT_A) & _M32
        value = (value * hc_next) & _M32
        value ^= value >> _S16
        mixed = (_MIX_MULT_L * p0 - _MIX_MULT_R * value) & _M32
        new = (p1, p2, p3, mixed ^ (mixed >> _S16))
        if k < 4:
            p0, p1, p2, p3 = new
            hc = hc_next
        else:  # the second word only for the indices >= 2^32
            p0, p1, p2, p3 = (np.where(two, a, b) for a, b in zip(new, (p0, p1, p2, p3), strict=True))
            hc = np.where(two, hc_next, hc)
    out = np.zeros((n, 4), dtype=np.uint64)
    hb = int(_INIT_B)
    pool = [p0, p1, p2, p3]
    for k in range(8):  # generate_state: 8 hashed 32-bit words (pool words 0, 1, 2, 3, 0, ...), little-endian pairs
        value = (pool[k % 4] ^ np.uint64(hb)) & _M32
        hb = (hb * int(_MULT_B)) & 0xFFFFFFFF
        value = (value * np.uint64(hb)) & _M32
        value ^= value >> _S16
        out[:, k // 2] |= (value << _S32) if k & 1 else value
    return out


def xoshiro_states(words: np.ndarray, first: int, count: int) -> np.ndarray:
    """States of trajectories first .. first+count-1, shape (count, 4) uint64 (:func:`stream_states`)."""
    return stream_states(words, np.arange(first, first + count, dtype=np.uint64))


# Register-resident variants: the four state words travel as scalars, so that
# LLVM keeps them in registers inside hot loops (an array state must be
# reloaded after every store the compiler cannot prove does not alias it).


@njit(cache=True, inline="always")
def xo_next(s0, s1, s2, s3):
    """xoshiro256** step on scalar state: returns (bits, s0, s1, s2, s3)."""
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True, inline="always")
def xo_double(s0, s1, s2, s3):
    """Uniform double in [0, 1) on scalar state: returns (u, s0, s1, s2, s3)."""
    r, s0, s1, s2, s3 = xo_next(s0, s1, s2, s3)
    return np.float64(r >> np.uint64(11)) * 1.1102230246251565e-16, s0, s1, s2, s3


def next_doubles(states: np.ndarray) -> np.ndarray:
    """One uniform double in [0, 1) from each stream of ``states`` (n, 4) uint64, advanced in place.

    The numpy twin of :func:`xo_double` (xoshiro256**, the top 53 bits), vectorised over the streams:
    a kernel handed the advanced states continues each stream where this left it.
    """
    s0, s1, s2, s3 = (states[:, k].copy() for k in range(4))
    five = s1 * np.uint64(5)
    bits = ((five << np.uint64(7)) | (five >> np.uint64(57))) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
    states[:, 0], states[:, 1], states[:, 2], states[:, 3] = s0, s1, s2, s3
    return (bits >> np.uint64(11)).astype(np.float64) * 1.1102230246251565e-16
