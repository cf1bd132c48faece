"""API client credentials and Bearer tokens (OAuth 2 client credentials, seed 001).

Secrets are stored only as a salted scrypt hash (stdlib KDF; the hash string carries its own
parameters so they can be raised later) and compared in constant time. Tokens are HS256 JWTs
whose header names the key id (`kid`): one key signs, every configured key verifies, so a key
can be rotated in without logging every client out. Keys shorter than 32 bytes are refused.
The clock is a parameter: nothing here reads it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import jwt

from gatewayd.service.errors import InvalidCredentials, InvalidToken, TokenExpired
from gatewayd.service.ports import AccountStore, NotFound

MIN_KEY_BYTES = 32
DEFAULT_TOKEN_TTL = 2_592_000  # 30 days, seed 001
ALGORITHM = "HS256"
CLIENT_CHECK_SECONDS = 30  # how long "this client is active" is trusted between store reads
MAX_VERIFIED_TOKENS = 10_000  # verified tokens remembered, so a hot token skips the HMAC

_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """Cost parameters of the secret hash (tests may lower them, production keeps defaults)."""

    n: int = _SCRYPT_N
    r: int = _SCRYPT_R
    p: int = _SCRYPT_P


def hash_secret(secret: str, params: ScryptParams | None = None) -> str:
    """`scrypt$n$r$p$salt$hash` (base64): what the store keeps for a client secret."""
    params = params or ScryptParams()
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(secret, salt, params.n, params.r, params.p)
    return "$".join(
        ["scrypt", str(params.n), str(params.r), str(params.p), _b64(salt), _b64(digest)]
    )


def verify_secret(secret: str, stored: str) -> bool:
    """True when `secret` matches the stored hash; constant-time, False for a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(secret, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def new_client_credentials() -> tuple[str, str]:
    """A fresh (client_id, client_secret): 20 and 43 URL-safe characters of randomness."""
    return secrets.token_urlsafe(15), secrets.token_urlsafe(32)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=_HASH_BYTES
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The token keys: `signing_kid` signs; every key in `keys` verifies."""

    signing_kid: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.signing_kid not in self.keys:
            raise ValueError(f"auth.signing_kid: {self.signing_kid!r} is not among the keys")
        for kid, key in self.keys.items():
            if not kid:
                raise ValueError("auth.keys: a key id must not be empty")
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(
                    f"auth.keys.{kid}: key is {len(key)} bytes, at least {MIN_KEY_BYTES} needed"
                )
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    @property
    def signing_key(self) -> bytes:
        return self.keys[self.signing_kid]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token speaks for."""

    account_id: str
    client_id: str

    @property
    def actor(self) -> str:
        """How the ledger names this caller."""
        return f"api:{self.client_id}"


Offload = Callable[[Callable[[], bool]], Awaitable[bool]]
"""Runs a blocking callable away from the caller's loop (the daemon passes asyncio.to_thread)."""


async def run_inline(work: Callable[[], bool]) -> bool:
    """The default Offload: run right here (tests, tools); the daemon offloads the KDF."""
    return work()


@dataclass(slots=True)
class AuthService:
    """Issues tokens for client credentials and turns tokens back into principals.

    The secret hash costs tens of milliseconds of CPU by design; `offload` keeps it off the
    event loop. Verified tokens are remembered (by their exact text) until they expire, so the
    hot path of every request is a dict lookup, not an HMAC.
    """

    store: AccountStore
    keys: SigningKeys
    token_ttl: int = DEFAULT_TOKEN_TTL
    issuer: str = "gatewayd"
    hash_params: ScryptParams = field(default_factory=ScryptParams)  # of the decoy hash
    offload: Offload = run_inline
    _verified: dict[str, tuple[Principal, int]] = field(default_factory=dict, repr=False)
    _active: dict[tuple[str, str], tuple[bool, datetime]] = field(default_factory=dict, repr=False)
    _dummy_hash: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.token_ttl <= 0:
            raise ValueError("auth.token_ttl: must be a positive number of seconds")
        self._dummy_hash = hash_secret(secrets.token_urlsafe(16), self.hash_params)

    async def issue_token(
        self, client_id: str, client_secret: str, now: datetime
    ) -> tuple[str, int]:
        """(access token, expires_in seconds); InvalidCredentials for any mismatch.

        An unknown client still costs one hash, so timing does not reveal which ids exist.
        """
        try:
            client = await self.store.get_api_client(client_id)
            stored_hash = client.secret_hash
        except NotFound:
            client, stored_hash = None, self._dummy_hash
        matches = await self.offload(lambda: verify_secret(client_secret, stored_hash))
        if client is None or not matches or not client.active:
            raise InvalidCredentials()
        claims = {
            "iss": self.issuer,
            "sub": client.client_id,
            "acc": client.account_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.token_ttl)).timestamp()),
            "jti": secrets.token_urlsafe(12),
        }
        token = jwt.encode(
            claims,
            self.keys.signing_key,
            algorithm=ALGORITHM,
            headers={"kid": self.keys.signing_kid},
        )
        self._active[(client.client_id, client.account_id)] = (True, now)
        return token, self.token_ttl

    def replace_keys(self, keys: SigningKeys) -> None:
        """Key rotation (SIGHUP): `keys.signing_kid` signs from now on. Remembered verified
        tokens whose kid was removed, or now names other key bytes, are forgotten, so their
        next use checks them against the new keys (and refuses them)."""
        kept = {kid for kid, key in keys.keys.items() if self.keys.keys.get(kid) == key}
        self.keys = keys
        self._verified = {t: known for t, known in self._verified.items() if _kid_of(t) in kept}

    def verify(self, token: str, now: datetime) -> Principal:
        """The principal of a well-signed, unexpired token; InvalidToken/TokenExpired otherwise."""
        known = self._verified.get(token)
        if known is None:
            known = self._verify_signature(token)
            if len(self._verified) >= MAX_VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[token] = known
        principal, exp = known
        if exp <= now.timestamp():
            raise TokenExpired()
        return principal

    def _verify_signature(self, token: str) -> tuple[Principal, int]:
        claims = self._decode(token)
        exp = claims.get("exp")
        sub, acc = claims.get("sub"), claims.get("acc")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise InvalidToken()
        if not isinstance(sub, str) or not isinstance(acc, str) or not sub or not acc:
            raise InvalidToken()
        return Principal(account_id=acc, client_id=sub), exp

    async def authenticate(self, token: str, now: datetime) -> Principal:
        """`verify`, then make sure the client still exists and is active (revocation).

        The store is asked at most once per client every CLIENT_CHECK_SECONDS.
        """
        principal = self.verify(token, now)
        scope = (principal.client_id, principal.account_id)
        cached = self._active.get(scope)
        if cached is None or (now - cached[1]).total_seconds() >= CLIENT_CHECK_SECONDS:
            try:
                client = await self.store.get_api_client(principal.client_id)
                active = client.active and client.account_id == principal.account_id
            except NotFound:
                active = False
            cached = (active, now)
            self._active[scope] = cached
        if not cached[0]:
            raise InvalidToken()
        return principal

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken() from None
        kid = header.get("kid")
        key = self.keys.keys.get(kid) if isinstance(kid, str) else None
        if key is None or header.get("alg") != ALGORITHM:
            raise InvalidToken()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "sub", "iss"],
                },
            )
        except jwt.PyJWTError:
            raise InvalidToken() from None
        return claims


def _kid_of(token: str) -> str | None:
    """The `kid` a token's header names, None when it names none (or is no JWT)."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None
    return kid if isinstance(kid, str) else None
