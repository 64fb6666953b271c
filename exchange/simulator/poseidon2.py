"""Poseidon2 over the Goldilocks field, as Lighter's signer hashes transactions (pure Python).

Why it exists: the simulator must return the hash the SDK's signer computed for a tx (its
`tx_hash`) and check the tx's Schnorr signature (`ecgfp5.py`), and the SDK ships no Python
implementation of either (lighter-api.md §3.2). This is the plonky2-compatible instance the
signer uses: width 12, rate 8, x^7 S-box, 8 full and 22 partial rounds, sponge in overwrite mode
without padding. The round constants and the internal diagonal are the published parameters of
that instance (Plonky3's Goldilocks Poseidon2; the same numbers as Lighter's Go library
elliottech/poseidon_crypto v0.0.15, Apache-2.0). tests/exchange/simulator/test_signatures.py
checks the result against hashes computed by the SDK's own signer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

P: Final = 2**64 - 2**32 + 1  # the Goldilocks prime
MASK64: Final = 2**64 - 1
WIDTH: Final = 12
RATE: Final = 8

EXTERNAL_CONSTANTS: Final[tuple[tuple[int, ...], ...]] = (
    (
        15492826721047263190,
        11728330187201910315,
        8836021247773420868,
        16777404051263952451,
        5510875212538051896,
        6173089941271892285,
        2927757366422211339,
        10340958981325008808,
        8541987352684552425,
        9739599543776434497,
        15073950188101532019,
        12084856431752384512,
    ),
    (
        4584713381960671270,
        8807052963476652830,
        54136601502601741,
        4872702333905478703,
        5551030319979516287,
        12889366755535460989,
        16329242193178844328,
        412018088475211848,
        10505784623379650541,
        9758812378619434837,
        7421979329386275117,
        375240370024755551,
    ),
    (
        3331431125640721931,
        15684937309956309981,
        578521833432107983,
        14379242000670861838,
        17922409828154900976,
        8153494278429192257,
        15904673920630731971,
        11217863998460634216,
        3301540195510742136,
        9937973023749922003,
        3059102938155026419,
        1895288289490976132,
    ),
    (
        5580912693628927540,
        10064804080494788323,
        9582481583369602410,
        10186259561546797986,
        247426333829703916,
        13193193905461376067,
        6386232593701758044,
        17954717245501896472,
        1531720443376282699,
        2455761864255501970,
        11234429217864304495,
        4746959618548874102,
    ),
    (
        13571697342473846203,
        17477857865056504753,
        15963032953523553760,
        16033593225279635898,
        14252634232868282405,
        8219748254835277737,
        7459165569491914711,
        15855939513193752003,
        16788866461340278896,
        7102224659693946577,
        3024718005636976471,
        13695468978618890430,
    ),
    (
        8214202050877825436,
        2670727992739346204,
        16259532062589659211,
        11869922396257088411,
        3179482916972760137,
        13525476046633427808,
        3217337278042947412,
        14494689598654046340,
        15837379330312175383,
        8029037639801151344,
        2153456285263517937,
        8301106462311849241,
    ),
    (
        13294194396455217955,
        17394768489610594315,
        12847609130464867455,
        14015739446356528640,
        5879251655839607853,
        9747000124977436185,
        8950393546890284269,
        10765765936405694368,
        14695323910334139959,
        16366254691123000864,
        15292774414889043182,
        10910394433429313384,
    ),
    (
        17253424460214596184,
        3442854447664030446,
        3005570425335613727,
        10859158614900201063,
        9763230642109343539,
        6647722546511515039,
        909012944955815706,
        18101204076790399111,
        11588128829349125809,
        15863878496612806566,
        5201119062417750399,
        176665553780565743,
    ),
)
INTERNAL_CONSTANTS: Final[tuple[int, ...]] = (
    11921381764981422944,
    10318423381711320787,
    8291411502347000766,
    229948027109387563,
    9152521390190983261,
    7129306032690285515,
    15395989607365232011,
    8641397269074305925,
    17256848792241043600,
    6046475228902245682,
    12041608676381094092,
    12785542378683951657,
    14546032085337914034,
    3304199118235116851,
    16499627707072547655,
    10386478025625759321,
    13475579315436919170,
    16042710511297532028,
    1411266850385657080,
    9024840976168649958,
    14047056970978379368,
    838728605080212101,
)
MATRIX_DIAG: Final[tuple[int, ...]] = (
    0xC3B6C08E23BA9300,
    0xD84B5DE94A324FB6,
    0xD0C371C5B35B84F,
    0x7964F570E7188037,
    0x5DAF18BBD996604B,
    0x6743BC47B9595257,
    0x5528B9362C59BB70,
    0xAC45E25B7127B68B,
    0xA2077D7DFBB606B5,
    0xF3FAAC6FAEE378AE,
    0xC6388B51545E883,
    0xD27DBB6944917B60,
)


def field(value: int) -> int:
    """A tx field as a Goldilocks element the way the Go signer converts it (uint64 wrap)."""
    return (value & MASK64) % P


def _external_layer(s: list[int]) -> None:
    # The 4x4 block matrix applied to each quarter, then each lane gets the sum of its column.
    for i in (0, 4, 8):
        x0, x1, x2, x3 = s[i], s[i + 1], s[i + 2], s[i + 3]
        t01, t23 = x0 + x1, x2 + x3
        t0123 = t01 + t23
        s[i] = t0123 + t01 + x1
        s[i + 1] = t0123 + x1 + 2 * x2
        s[i + 2] = t0123 + t23 + x3
        s[i + 3] = t0123 + x3 + 2 * x0
    sums = [s[i] + s[i + 4] + s[i + 8] for i in range(4)]
    for i in range(WIDTH):
        s[i] = (s[i] + sums[i & 3]) % P


def _full_round(s: list[int], constants: Sequence[int]) -> None:
    for i in range(WIDTH):
        s[i] = pow(s[i] + constants[i], 7, P)
    _external_layer(s)


def permute(state: list[int]) -> None:
    """The Poseidon2 permutation, in place, on 12 canonical Goldilocks elements."""
    _external_layer(state)
    for r in range(4):
        _full_round(state, EXTERNAL_CONSTANTS[r])
    for r in range(22):
        state[0] = pow(state[0] + INTERNAL_CONSTANTS[r], 7, P)
        total = sum(state)
        for i in range(WIDTH):
            state[i] = (total + state[i] * MATRIX_DIAG[i]) % P
    for r in range(4, 8):
        _full_round(state, EXTERNAL_CONSTANTS[r])


def hash_no_pad(elements: Sequence[int], outputs: int) -> tuple[int, ...]:
    """Sponge hash of canonical elements into `outputs` elements (no padding, overwrite mode)."""
    state = [0] * WIDTH
    for start in range(0, len(elements), RATE):
        chunk = elements[start : start + RATE]
        state[: len(chunk)] = chunk
        permute(state)
    result: list[int] = []
    while True:
        for i in range(RATE):
            result.append(state[i])
            if len(result) == outputs:
                return tuple(result)
        permute(state)


def hash_to_quintic(elements: Sequence[int]) -> tuple[int, int, int, int, int]:
    """Hash into one element of the quintic extension (5 limbs), Lighter's message digest."""
    a, b, c, d, e = hash_no_pad(elements, 5)
    return a, b, c, d, e


def hash_out(elements: Sequence[int]) -> tuple[int, int, int, int]:
    """Hash into the usual 4-element digest (grouped orders hash each order this way)."""
    a, b, c, d = hash_no_pad(elements, 4)
    return a, b, c, d


def hash_two_to_one(left: Sequence[int], right: Sequence[int]) -> tuple[int, int, int, int]:
    """Merge two 4-element digests."""
    return hash_out([*left, *right])
