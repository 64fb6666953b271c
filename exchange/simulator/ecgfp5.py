"""Schnorr signature verification over the ECgFp5 curve, as Lighter's API keys sign (pure Python).

Why it exists: a transaction whose signature does not verify under the API key registered for
its (account, key index) must be refused (lighter-api.md §3.2, 21120), and the SDK's native
signer exposes no verification. The scheme (Thomas Pornin's ECgFp5, prime group order, with
Poseidon2 for the challenge): public key = encode(sk * G), signature = (s, e) with
e = H(encode(s * G + e * PK) || message) where H is `poseidon2.hash_to_quintic` read as a
320-bit little-endian integer modulo the group order. Points are handled in the curve's short
Weierstrass model in affine coordinates; a field inversion costs four multiplications thanks to
the Frobenius map, which makes affine additions the cheapest choice in Python.

Speed: fixed-base window tables (8-bit windows for G, 4-bit for each recently seen public key)
turn a verification into the sum of about 120 table points: a few milliseconds, instead of a
double-and-add over 320 bits.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from exchange.simulator.poseidon2 import P, hash_to_quintic

Fp5 = tuple[int, int, int, int, int]
Point = tuple[Fp5, Fp5] | None  # None is the point at infinity

ZERO: Final[Fp5] = (0, 0, 0, 0, 0)
# The group order (prime, just below 2^319).
ORDER: Final = int(
    "1067993516717146951041484916571792702745057740581727230159139685185762082554198619328292418486241"
)
# Double-odd curve y^2 = x (x^2 + a x + b) over GF(p^5) = GF(p)[z] / (z^5 - 3): a = 2, b = 263 z.
_A: Final[Fp5] = (2, 0, 0, 0, 0)
_B4: Final[Fp5] = (0, 4 * 263, 0, 0, 0)
# Its short Weierstrass form y^2 = x^3 + A x + B is reached by x_w = x + a/3.
_A_THIRD: Final[Fp5] = (2 * pow(3, P - 2, P) % P, 0, 0, 0, 0)
_A_W: Final[Fp5] = ((-4 * pow(3, P - 2, P)) % P, 263, 0, 0, 0)
GENERATOR: Final[tuple[Fp5, Fp5]] = (
    (
        11712523173042564207,
        14090224426659529053,
        13197813503519687414,
        16280770174934269299,
        15998333998318935536,
    ),
    (
        14639054205878357578,
        17426078571020221072,
        2548978194165003307,
        8663895577921260088,
        9793640284382595140,
    ),
)
# Frobenius: z^p = 3^((p-1)/5) z, so the k-th power of the map scales limb i by root^(k*i).
_ROOT: Final = pow(3, (P - 1) // 5, P)
_FROBENIUS: Final = tuple(
    tuple(pow(_ROOT, k * i, P) for i in range(5)) for k in range(5)
)  # indexed [k][i]
_NON_RESIDUE: Final = 7  # a quadratic non-residue of GF(p), for Tonelli-Shanks
_TWO_ADICITY: Final = 32


# -- GF(p^5) ------------------------------------------------------------------------------------


def add(a: Fp5, b: Fp5) -> Fp5:
    """a + b."""
    return (
        (a[0] + b[0]) % P,
        (a[1] + b[1]) % P,
        (a[2] + b[2]) % P,
        (a[3] + b[3]) % P,
        (a[4] + b[4]) % P,
    )


def sub(a: Fp5, b: Fp5) -> Fp5:
    """a - b."""
    return (
        (a[0] - b[0]) % P,
        (a[1] - b[1]) % P,
        (a[2] - b[2]) % P,
        (a[3] - b[3]) % P,
        (a[4] - b[4]) % P,
    )


def mul(a: Fp5, b: Fp5) -> Fp5:
    """a * b modulo z^5 - 3."""
    a0, a1, a2, a3, a4 = a
    b0, b1, b2, b3, b4 = b
    return (
        (a0 * b0 + 3 * (a1 * b4 + a2 * b3 + a3 * b2 + a4 * b1)) % P,
        (a0 * b1 + a1 * b0 + 3 * (a2 * b4 + a3 * b3 + a4 * b2)) % P,
        (a0 * b2 + a1 * b1 + a2 * b0 + 3 * (a3 * b4 + a4 * b3)) % P,
        (a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0 + 3 * a4 * b4) % P,
        (a0 * b4 + a1 * b3 + a2 * b2 + a3 * b1 + a4 * b0) % P,
    )


def scale(a: Fp5, k: int) -> Fp5:
    """a * k for k in GF(p)."""
    return (a[0] * k % P, a[1] * k % P, a[2] * k % P, a[3] * k % P, a[4] * k % P)


def frobenius(a: Fp5, k: int = 1) -> Fp5:
    """a^(p^k)."""
    f = _FROBENIUS[k % 5]
    return (a[0], a[1] * f[1] % P, a[2] * f[2] % P, a[3] * f[3] % P, a[4] * f[4] % P)


def _conjugates(a: Fp5) -> Fp5:
    """a^(p + p^2 + p^3 + p^4): a times it is the norm of a, an element of GF(p)."""
    d = frobenius(a)
    e = mul(d, frobenius(d))
    return mul(e, frobenius(e, 2))


def norm(a: Fp5) -> int:
    """N(a) = a^(1 + p + p^2 + p^3 + p^4), in GF(p)."""
    return mul(a, _conjugates(a))[0]


def inverse(a: Fp5) -> Fp5:
    """1 / a (a must be non-zero)."""
    f = _conjugates(a)
    return scale(f, pow(mul(a, f)[0], -1, P))


def is_square(a: Fp5) -> bool:
    """Whether a is a non-zero square (its norm is a square of GF(p))."""
    n = norm(a)
    return n != 0 and pow(n, (P - 1) // 2, P) == 1


def _sqrt_fp(x: int) -> int | None:
    """A square root in GF(p) (Tonelli-Shanks), None for a non-residue."""
    if x == 0:
        return 0
    if pow(x, (P - 1) // 2, P) != 1:
        return None
    odd = (P - 1) >> _TWO_ADICITY
    z = pow(_NON_RESIDUE, odd, P)
    w = pow(x, (odd - 1) // 2, P)
    root, b, v = x * w % P, x * w * w % P, _TWO_ADICITY
    while b != 1:
        k, b2k = 0, b
        while b2k != 1:
            b2k, k = b2k * b2k % P, k + 1
        w = z
        for _ in range(v - k - 1):
            w = w * w % P
        z = w * w % P
        b, root, v = b * z % P, root * w % P, k
    return root


def sqrt(x: Fp5) -> Fp5 | None:
    """A square root in GF(p^5), None when x is not a square.

    Pornin's method: with d = x^(r-1)/2-ish built from Frobenius maps, e such that x * e^2 lies
    in GF(p); its square root there divided by e is the root.
    """
    if x == ZERO:
        return ZERO
    v = x
    for _ in range(31):
        v = mul(v, v)
    v32 = v
    for _ in range(32):
        v32 = mul(v32, v32)
    d = mul(mul(x, v32), inverse(v))
    e = frobenius(mul(d, frobenius(d, 2)))
    g = mul(x, mul(e, e))[0]
    s = _sqrt_fp(g)
    if s is None:
        return None
    return scale(inverse(e), s)


# -- points (short Weierstrass, affine) ---------------------------------------------------------


def point_add(p: Point, q: Point) -> Point:
    """p + q."""
    if p is None:
        return q
    if q is None:
        return p
    (x1, y1), (x2, y2) = p, q
    if x1 == x2:
        return point_double(p) if y1 == y2 else None
    slope = mul(sub(y2, y1), inverse(sub(x2, x1)))
    x3 = sub(sub(mul(slope, slope), x1), x2)
    return x3, sub(mul(slope, sub(x1, x3)), y1)


def point_double(p: Point) -> Point:
    """2p."""
    if p is None or p[1] == ZERO:
        return None
    x, y = p
    xx = mul(x, x)
    slope = mul(add(add(add(xx, xx), xx), _A_W), inverse(add(y, y)))
    x3 = sub(mul(slope, slope), add(x, x))
    return x3, sub(mul(slope, sub(x, x3)), y)


def encode(p: Point) -> Fp5:
    """The 40-byte public form of a point: w = y / (a/3 - x_w); infinity encodes as 0."""
    if p is None:
        return ZERO
    x, y = p
    return mul(y, inverse(sub(_A_THIRD, x)))


def decode(w: Fp5) -> tuple[bool, Point]:
    """(ok, point) from an encoding; ok is False when w encodes no point of the group."""
    e = sub(mul(w, w), _A)
    root = sqrt(sub(mul(e, e), _B4))
    if root is None:
        return w == ZERO, None
    half = pow(2, P - 2, P)
    x1, x2 = scale(add(e, root), half), scale(sub(e, root), half)
    x = x1 if is_square(x1) else x2
    y = sub(ZERO, mul(w, x))
    return True, (add(x, _A_THIRD), y)


Table = list[list[Point]]
KEY_WINDOW_BITS = 4  # per public key: 80 rows of 16 points (cached for recent keys)
GENERATOR_WINDOW_BITS = 8  # for G: 40 rows of 256 points (built once per process)


def window_table(base: Point, bits: int = KEY_WINDOW_BITS) -> Table:
    """table[i][d] = d * 2^(bits*i) * base, for the windows of a 320-bit scalar."""
    table: Table = []
    current = base
    for _ in range(-(-320 // bits)):
        row: list[Point] = [None, current]
        for _ in range((1 << bits) - 2):
            row.append(point_add(row[-1], current))
        table.append(row)
        current = point_add(row[-1], current)  # 2^bits * current
    return table


def table_points(table: Table, scalar: int, bits: int) -> list[tuple[Fp5, Fp5]]:
    """The table entries whose sum is scalar * base (one per non-zero window)."""
    mask = (1 << bits) - 1
    points = []
    for i, row in enumerate(table):
        point = row[(scalar >> (bits * i)) & mask]
        if point is not None:
            points.append(point)
    return points


def sum_points(points: list[tuple[Fp5, Fp5]]) -> Point:
    """The sum of affine points (each addition costs one cheap field inversion; a tree with
    Montgomery's batch inversion measured no faster in Python)."""
    acc: Point = None
    for point in points:
        acc = point_add(acc, point)
    return acc


_GENERATOR_TABLE: list[Table] = []


def _generator_table() -> Table:
    """G's window table, built once per process on first use (a fraction of a second)."""
    if not _GENERATOR_TABLE:
        _GENERATOR_TABLE.append(window_table(GENERATOR, GENERATOR_WINDOW_BITS))
    return _GENERATOR_TABLE[0]


class Verifier:
    """Checks Schnorr signatures; keeps window tables of G and of the last `keys` public keys."""

    def __init__(self, keys: int = 32) -> None:
        self._keys: OrderedDict[Fp5, Table | None] = OrderedDict()
        self._capacity = keys

    def _key_table(self, public_key: Fp5) -> Table | None:
        if public_key in self._keys:
            self._keys.move_to_end(public_key)
            return self._keys[public_key]
        ok, point = decode(public_key)
        table = window_table(point) if ok and point is not None else None
        self._keys[public_key] = table
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return table

    def verify(self, public_key: Fp5, message: Fp5, signature: bytes) -> bool:
        """Whether `signature` (80 bytes: s then e, little-endian) signs `message` for the key."""
        r = self.challenge_point(public_key, signature)
        return r is not None and self.matches(r, message, signature)

    def challenge_point(self, public_key: Fp5, signature: bytes) -> Fp5 | None:
        """encode(s * G + e * PK), the value hashed with the message; None if malformed."""
        if len(signature) != 80:
            return None
        s = int.from_bytes(signature[:40], "little")
        e = int.from_bytes(signature[40:], "little")
        if s >= ORDER or e >= ORDER:
            return None
        key_table = self._key_table(public_key)
        if key_table is None:
            return None
        points = table_points(_generator_table(), s, GENERATOR_WINDOW_BITS)
        return encode(sum_points(points + table_points(key_table, e, KEY_WINDOW_BITS)))

    @staticmethod
    def matches(r: Fp5, message: Fp5, signature: bytes) -> bool:
        """Whether the challenge e of `signature` is H(r || message)."""
        e = int.from_bytes(signature[40:], "little")
        return scalar_of(hash_to_quintic([*r, *message])) == e


def scalar_of(element: Fp5) -> int:
    """An extension element as a scalar: its limbs as a little-endian integer, mod the order."""
    value = 0
    for limb in reversed(element):
        value = (value << 64) | limb
    return value % ORDER


def from_bytes(data: bytes) -> Fp5 | None:
    """A canonical 40-byte little-endian element, None if malformed."""
    if len(data) != 40:
        return None
    limbs = tuple(int.from_bytes(data[i : i + 8], "little") for i in range(0, 40, 8))
    if any(limb >= P for limb in limbs):
        return None
    a, b, c, d, e = limbs
    return a, b, c, d, e


def to_bytes(element: Fp5) -> bytes:
    """40 bytes, little-endian limbs."""
    return b"".join(limb.to_bytes(8, "little") for limb in element)
