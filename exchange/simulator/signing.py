"""Transaction hashes and signatures exactly as Lighter's signer makes them (lighter-api.md §3.2).

The signer hashes `[chain id, tx type, Nonce, ExpiredAt, account, api key index, ...fields]`
with Poseidon2 into one GF(p^5) element (grouped orders first hash each order), folds in the
L2TxAttributes when there are any, and signs that message with the API key (Schnorr over
ECgFp5). Its 40-byte little-endian encoding, in hex, is the `tx_hash` the signer returns and the
simulator echoes.

What is checked (`SignatureCheck.signer_hash`): the tx's `Sig` verifies under the public key
registered for (AccountIndex, ApiKeyIndex) — for ChangePubKey under the key being registered,
which proves the sender holds it — for one of the accepted chain ids (the SDK picks the chain
id from the URL, 304 for anything local). The L1 (Ethereum) signature of ChangePubKey is not
checked. Auth tokens (`token_ok`) are checked the same way against the key they name. With
`SimConfig.verify_signatures` off (engine-level tests that build tx_info by hand)
only the hash is computed, with the first accepted chain id.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from exchange.simulator.constants import (
    TX_CANCEL_ALL,
    TX_CANCEL_ORDER,
    TX_CHANGE_PUB_KEY,
    TX_CREATE_GROUPED,
    TX_CREATE_ORDER,
    TX_CREATE_SUB_ACCOUNT,
    TX_MODIFY_ORDER,
    TX_UPDATE_LEVERAGE,
    TX_UPDATE_MARGIN,
    TX_WITHDRAW,
)
from exchange.simulator.ecgfp5 import Fp5, Verifier, from_bytes, to_bytes
from exchange.simulator.poseidon2 import P, field, hash_out, hash_to_quintic, hash_two_to_one
from exchange.simulator.types import SimError

INVALID_SIGNATURE = (21120, "invalid signature")
TOKEN_CACHE = 4096
ATTRIBUTES_PER_TX = 4

ORDER_FIELDS = (
    "MarketIndex",
    "ClientOrderIndex",
    "BaseAmount",
    "Price",
    "IsAsk",
    "Type",
    "TimeInForce",
    "ReduceOnly",
    "TriggerPrice",
    "OrderExpiry",
)
# Fields hashed after the envelope, per tx type (amounts of 64 bits are split in two halves).
BODY_FIELDS: dict[int, tuple[str, ...]] = {
    TX_CREATE_SUB_ACCOUNT: (),
    TX_CREATE_ORDER: ORDER_FIELDS,
    TX_CANCEL_ORDER: ("MarketIndex", "Index"),
    TX_CANCEL_ALL: ("TimeInForce", "Time"),
    TX_MODIFY_ORDER: ("MarketIndex", "Index", "BaseAmount", "Price", "TriggerPrice"),
    TX_UPDATE_LEVERAGE: ("MarketIndex", "InitialMarginFraction", "MarginMode"),
    TX_UPDATE_MARGIN: ("MarketIndex", "USDCAmount/split", "Direction"),
    TX_WITHDRAW: ("AssetIndex", "RouteType", "Amount/split"),
}


def _int(info: dict[str, Any], key: str) -> int:
    value = info.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SimError(21501, "invalid tx info")
    return value


def _public_key(raw: Any) -> Fp5:
    try:
        key = from_bytes(base64.b64decode(str(raw), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise SimError(21501, "invalid tx info") from exc
    if key is None:
        raise SimError(21501, "invalid tx info")
    return key


def _body(tx_type: int, info: dict[str, Any]) -> list[int]:
    if tx_type == TX_CHANGE_PUB_KEY:
        return list(_public_key(info.get("PubKey")))
    if tx_type == TX_CREATE_GROUPED:
        orders = info.get("Orders")
        if not isinstance(orders, list) or not orders:
            raise SimError(21501, "invalid tx info")
        digest: Sequence[int] = ()
        for order in orders:
            if not isinstance(order, dict):
                raise SimError(21501, "invalid tx info")
            one = hash_out([field(_int(order, key)) for key in ORDER_FIELDS])
            digest = hash_two_to_one(digest, one) if digest else one
        return [field(_int(info, "GroupingType")), *digest]
    names = BODY_FIELDS.get(tx_type)
    if names is None:
        raise SimError(21505, "unsupported tx type")
    out: list[int] = []
    for name in names:
        if name.endswith("/split"):
            value = _int(info, name.removesuffix("/split"))
            out += [field(value & 0xFFFFFFFF), field(value >> 32)]
        else:
            out.append(field(_int(info, name)))
    return out


def _attributes(info: dict[str, Any]) -> list[int] | None:
    raw = info.get("L2TxAttributes")
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise SimError(21501, "invalid tx info")
    try:
        pairs = sorted((int(k), int(v)) for k, v in raw.items())
    except (TypeError, ValueError) as exc:
        raise SimError(21501, "invalid tx info") from exc
    if len(pairs) > ATTRIBUTES_PER_TX:
        raise SimError(21501, "invalid tx info")
    pairs += [(0, 0)] * (ATTRIBUTES_PER_TX - len(pairs))
    return [field(x) for pair in pairs for x in pair]


def message(tx_type: int, info: dict[str, Any], chain_id: int) -> Fp5:
    """The message the signer signed for this tx under `chain_id`."""
    account = "FromAccountIndex" if tx_type == TX_WITHDRAW else "AccountIndex"
    envelope = [chain_id, tx_type, _int(info, "Nonce"), _int(info, "ExpiredAt")]
    envelope += [_int(info, account), _int(info, "ApiKeyIndex")]
    digest = hash_to_quintic([field(x) for x in envelope] + _body(tx_type, info))
    attributes = _attributes(info)
    if attributes is None:
        return digest
    return hash_to_quintic([*digest, *hash_to_quintic(attributes)])


def hash_hex(element: Fp5) -> str:
    """A message as the signer's `tx_hash` (80 hex chars)."""
    return to_bytes(element).hex()


def token_message(text: str) -> Fp5:
    """The message an auth token `expiry:account:key` signs: its bytes in 8-byte little-endian
    chunks (the last one zero-padded), hashed (no chain id)."""
    raw = text.encode()
    chunks = [raw[i : i + 8].ljust(8, b"\0") for i in range(0, len(raw), 8)]
    return hash_to_quintic([int.from_bytes(chunk, "little") % P for chunk in chunks])


class SignatureCheck:
    """Verifies tx signatures against registered API keys; gives the signer's tx hash."""

    def __init__(self, chain_ids: Sequence[int], *, verify: bool = True) -> None:
        if not chain_ids:
            raise ValueError("at least one chain id is needed")
        self.chain_ids = tuple(chain_ids)
        self.verify = verify
        self._verifier = Verifier()
        self._tokens: OrderedDict[tuple[str, str], bool] = OrderedDict()

    def token_ok(self, token: str, public_key_hex: str) -> bool:
        """Whether an auth token `expiry:account:key:signature_hex` is signed by the key.

        Verdicts are remembered (a client sends the same token with every private request).
        """
        if not self.verify:
            return True
        cached = self._tokens.get((token, public_key_hex))
        if cached is not None:
            return cached
        text, _, signature_hex = token.strip().rpartition(":")
        try:
            signature = bytes.fromhex(signature_hex)
            key = from_bytes(bytes.fromhex(public_key_hex.removeprefix("0x")))
        except ValueError:
            key = None
        ok = key is not None and self._verifier.verify(key, token_message(text), signature)
        self._tokens[(token, public_key_hex)] = ok
        if len(self._tokens) > TOKEN_CACHE:
            self._tokens.popitem(last=False)
        return ok

    def signer_hash(self, tx_type: int, info: dict[str, Any], public_key_hex: str) -> str:
        """The tx's hash; SimError 21120 unless `Sig` verifies under the public key."""
        if not self.verify:
            return hash_hex(message(tx_type, info, self.chain_ids[0]))
        if tx_type == TX_CHANGE_PUB_KEY:
            key: Fp5 | None = _public_key(info.get("PubKey"))
        else:
            try:
                key = from_bytes(bytes.fromhex(public_key_hex.removeprefix("0x")))
            except ValueError:
                key = None
        try:
            signature = base64.b64decode(str(info.get("Sig", "")), validate=True)
        except (binascii.Error, ValueError):
            raise SimError(*INVALID_SIGNATURE) from None
        point = self._verifier.challenge_point(key, signature) if key is not None else None
        if point is None:
            raise SimError(*INVALID_SIGNATURE)
        for chain_id in self.chain_ids:
            signed = message(tx_type, info, chain_id)
            if Verifier.matches(point, signed, signature):
                return hash_hex(signed)
        raise SimError(*INVALID_SIGNATURE)
