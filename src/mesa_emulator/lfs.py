"""Git LFS objects: their storage and the pre-signed URLs that move their bytes.

``lfs.upload`` and ``lfs.download`` answer URLs served by the emulator itself,
``/_lfs/<repo id>/<oid>?op=upload|download&size=<n>&expires=<unix>&sig=<hmac>``.  They need
no API key: the HMAC signature (over the operation, repository id, oid, size and expiry) is
the authorization, and a bad or expired signature is ``403``.  An upload is verified against
its oid (SHA-256) and size before it is kept (``422`` otherwise, nothing stored).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from mesa_emulator.errors import ApiError

__all__ = ["URL_TTL_SECONDS", "LfsStorage", "pointer_text"]

URL_TTL_SECONDS = 3600


def pointer_text(oid: str, size: int) -> bytes:
    """The git-lfs pointer file committed in place of the object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


class LfsStorage:
    def __init__(self, root: Path, secret: bytes) -> None:
        self.root = Path(root)
        self._secret = secret

    # ---- files --------------------------------------------------------------------------

    def object_path(self, repo_id: str, oid: str) -> Path:
        return self.root / repo_id / oid[:2] / oid

    def has(self, repo_id: str, oid: str) -> bool:
        return self.object_path(repo_id, oid).is_file()

    def temp_path(self, repo_id: str, oid: str) -> Path:
        folder = self.root / repo_id / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{oid}.{os.getpid()}.{time.monotonic_ns()}"

    def commit_temp(self, temp: Path, repo_id: str, oid: str) -> None:
        final = self.object_path(repo_id, oid)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)

    def delete_repo(self, repo_id: str) -> None:
        shutil.rmtree(self.root / repo_id, ignore_errors=True)

    # ---- signed URLs --------------------------------------------------------------------

    def _signature(self, op: str, repo_id: str, oid: str, size: int, expires: int) -> str:
        message = f"{op}\n{repo_id}\n{oid}\n{size}\n{expires}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def signed_url(self, base_url: str, op: str, repo_id: str, oid: str, size: int) -> str:
        expires = int(time.time()) + URL_TTL_SECONDS
        query = urlencode(
            {
                "op": op,
                "size": str(size),
                "expires": str(expires),
                "sig": self._signature(op, repo_id, oid, size, expires),
            }
        )
        return f"{base_url}/_lfs/{quote(repo_id, safe='')}/{oid}?{query}"

    def verify(self, op: str, repo_id: str, oid: str, query: dict[str, str]) -> int:
        """Check a signed URL's query; answers the object's size."""
        forbidden = ApiError(
            "FORBIDDEN", "The URL's signature is invalid or has expired.", status=403
        )
        try:
            size = int(query["size"])
            expires = int(query["expires"])
            sig = query["sig"]
        except (KeyError, ValueError):
            raise forbidden from None
        if query.get("op") != op or size < 0:
            raise forbidden
        expected = self._signature(op, repo_id, oid, size, expires)
        if not hmac.compare_digest(sig.encode(), expected.encode()):
            raise forbidden
        if expires < time.time():
            raise forbidden
        return size
