"""Stand-ins for Microsoft identity: the Bot Framework OpenID metadata + signing keys, and the
Entra v2.0 client-credentials token endpoint.

Tokens are signed here with a key the test owns, shaped like the Bot Framework channel's
(`iss` https://api.botframework.com, `aud` the bot's app id, `serviceurl`), so every way a
token can be wrong can be produced on purpose.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.standins.threaded import StandIn

CHANNEL_ISSUER = "https://api.botframework.com"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self, endorsements: list[str]) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "n": _b64(numbers.n),
                "e": _b64(numbers.e), "endorsements": endorsements}


class OpenIdStandIn(StandIn):
    """Serves `/v1/.well-known/openidconfiguration` and its `jwks_uri`, like
    login.botframework.com does, and mints channel tokens."""

    def __init__(self) -> None:
        self.key = SigningKey("heatwatch-test-key")
        self.other_key = SigningKey("unpublished-key")
        self.endorsements = ["msteams", "webchat", "emulator"]
        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        super().__init__(app)

    @property
    def metadata_url(self) -> str:
        return self.base_url + "/v1/.well-known/openidconfiguration"

    async def _metadata(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": CHANNEL_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": self.base_url + "/v1/.well-known/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        })

    async def _keys(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.jwk(self.endorsements)]})

    def token(
        self,
        audience: str,
        service_url: str,
        *,
        issuer: str = CHANNEL_ISSUER,
        expires_in: int = 3600,
        key: SigningKey | None = None,
        algorithm: str = "RS256",
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims = {"serviceurl": service_url, "nbf": now - 10, "exp": now + expires_in,
                  "iss": issuer, "aud": audience, **extra}
        signer = key or self.key
        return jwt.encode(claims, signer.private, algorithm=algorithm,
                          headers={"kid": signer.kid})


class EntraStandIn(StandIn):
    """`POST /{tenant}/oauth2/v2.0/token` with grant_type=client_credentials, answering like
    Entra: 200 with token_type/expires_in/access_token, or 401 invalid_client (AADSTS7000215)."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.requests: list[dict[str, str]] = []
        self.issued: list[str] = []
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        super().__init__(app)

    @property
    def authority(self) -> str:
        return self.base_url

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        with self._lock:
            self.requests.append({"tenant": request.match_info["tenant"], **form})
        if form.get("grant_type") != "client_credentials" or not form.get("scope"):
            return web.json_response({
                "error": "invalid_request",
                "error_description": "AADSTS900144: The request body must contain the "
                                     "following parameter: 'grant_type'.",
                "error_codes": [900144],
            }, status=400)
        if form.get("client_id") != self.client_id or form.get(
                "client_secret") != self.client_secret:
            return web.json_response({
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided. Ensure "
                                     "the secret being sent in the request is the client "
                                     "secret value, not the client secret ID.",
                "error_codes": [7000215],
            }, status=401)
        token = "entra-test-token-" + str(next(self._counter)) + "-" + json.dumps(
            form["scope"]).strip('"').replace("/", "_")
        with self._lock:
            self.issued.append(token)
        return web.json_response({"token_type": "Bearer", "expires_in": 3599,
                                  "ext_expires_in": 3599, "access_token": token})
