"""Random numbers inside numba kernels: one xoshiro256** stream per trajectory.

Trajectory i of a run with root seed ``seed`` uses the stream whose state is
``numpy.random.SeedSequence(seed, spawn_key=(i,)).generate_state(4, np.uint64)``:
exactly the state of ``SeedSequence(seed).spawn(n)[i]``.  That hash is
re-implemented here in numba (and tested bit for bit against numpy), so
seeding a trajectory costs ~0.1 us instead of ~30 us.  A trajectory's numbers
therefore depend only on (seed, i), never on chunking, threads or ranks.

xoshiro256** is Blackman & Vigna's generator (period 2^256 - 1); doubles are
the top 53 bits; unit exponentials come from a 256-layer ziggurat (:func:`nanomag._ziggurat.xo_exponential`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["entropy_words", "seed_xoshiro", "next_u64", "next_double", "next_open_double", "xoshiro_states"]

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
_POOL = 4


def entropy_words(seed: object) -> np.ndarray:
    """A non-negative integer seed as little-endian uint32 words (numpy's coercion), padded to the pool size."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    rest = int(seed)
    words = []
    while True:
        words.append(rest & 0xFFFFFFFF)
        rest >>= 32
        if rest == 0:
            break
    while len(words) < _POOL:  # numpy pads the entropy when a spawn key follows
        words.append(0)
    return np.array(words, dtype=np.uint64)


@njit(cache=True, inline="always")
def _hash_step(value, hc, mult):
    """SeedSequence's hash of one 32-bit word: (hashed value, next hash constant); ``mult`` is _MULT_A while
    the pool is mixed, _MULT_B while the state is drawn from it."""
    value = (value ^ hc) & _M32
    hc = (hc * mult) & _M32
    value = (value * hc) & _M32
    value ^= value >> _S16
    return value, hc


@njit(cache=True, inline="always")
def _hashmix(value, hash_const):
    value, hash_const[0] = _hash_step(value, hash_const[0], _MULT_A)
    return value


@njit(cache=True, inline="always")
def _mix(x, y):
    result = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _M32
    result ^= result >> _S16
    return result


@njit(cache=True)
def seed_xoshiro(words, index, state):
    """Fill ``state`` (4 uint64) for trajectory ``index`` of the root entropy ``words``.

    Bit-identical to SeedSequence(seed, spawn_key=(index,)).generate_state(4, np.uint64).
    """
    # assembled entropy: root words, then the spawn key as uint32 words
    index = np.uint64(index)
    n_key = 1 if index <= _M32 else 2
    n = words.size + n_key
    entropy = np.empty(n, dtype=np.uint64)
    for i in range(words.size):
        entropy[i] = words[i]
    entropy[words.size] = index & _M32
    if n_key == 2:
        entropy[words.size + 1] = index >> _S32
    hash_const = np.empty(1, dtype=np.uint64)
    hash_const[0] = _INIT_A
    pool = np.empty(_POOL, dtype=np.uint64)
    for i in range(_POOL):
        pool[i] = _hashmix(entropy[i] if i < n else np.uint64(0), hash_const)
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                pool[i_dst] = _mix(pool[i_dst], _hashmix(pool[i_src], hash_const))
    for i_src in range(_POOL, n):
        for i_dst in range(_POOL):
            pool[i_dst] = _mix(pool[i_dst], _hashmix(entropy[i_src], hash_const))
    # generate_state(4, uint64): 8 uint32 words, little-endian pairs
    hc = np.uint64(_INIT_B)
    for k in range(4):
        lo = np.uint64(0)
        hi = np.uint64(0)
        for half in range(2):
            v, hc = _hash_step(pool[(2 * k + half) % _POOL], hc, _MULT_B)
            if half == 0:
                lo = v
            else:
                hi = v
        state[k] = lo | (hi << _S32)


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

    What :func:`seed_xoshiro` computes before it mixes in the spawn key (in
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


@njit(cache=True, inline="always")
def xo_seed_pooled(root, index):
    """Scalar state of trajectory ``index`` from :func:`root_pool` (equal to :func:`xo_seed`)."""
    p0, p1, p2, p3, hc = root[0], root[1], root[2], root[3], root[4]
    index = np.uint64(index)
    key = index & _M32
    for half in range(2):
        if half == 1:
            if index <= _M32:
                break
            key = index >> _S32
        h, hc = _hash_step(key, hc, _MULT_A)
        p0 = _mix(p0, h)
        h, hc = _hash_step(key, hc, _MULT_A)
        p1 = _mix(p1, h)
        h, hc = _hash_step(key, hc, _MULT_A)
        p2 = _mix(p2, h)
        h, hc = _hash_step(key, hc, _MULT_A)
        p3 = _mix(p3, h)
    hb = np.uint64(_INIT_B)
    a, hb = _hash_step(p0, hb, _MULT_B)
    b, hb = _hash_step(p1, hb, _MULT_B)
    c, hb = _hash_step(p2, hb, _MULT_B)
    d, hb = _hash_step(p3, hb, _MULT_B)
    e, hb = _hash_step(p0, hb, _MULT_B)
    f, hb = _hash_step(p1, hb, _MULT_B)
    g, hb = _hash_step(p2, hb, _MULT_B)
    h, hb = _hash_step(p3, hb, _MULT_B)
    return a | (b << _S32), c | (d << _S32), e | (f << _S32), g | (h << _S32)


@njit(cache=True)
def xoshiro_states(words, first, count):
    """States of trajectories first .. first+count-1, shape (count, 4) uint64."""
    out = np.empty((count, 4), dtype=np.uint64)
    for i in range(count):
        seed_xoshiro(words, first + i, out[i])
    return out


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


@njit(cache=True, inline="always")
def xo_seed(words, index):
    """Scalar state of trajectory ``index`` (see :func:`seed_xoshiro`)."""
    st = np.empty(4, dtype=np.uint64)
    seed_xoshiro(words, index, st)
    return st[0], st[1], st[2], st[3]
