"""Files the bot makes and sends (the /summary chart), kept on disk until sent.

An outbox row names such a file as its photo, `media:<name>`, instead of carrying bytes:
Telegram gets it uploaded from the disk; Zalo, which takes photos only by URL, gets
`PUBLIC_URL/media/<name>`, served by the bot's web server (without PUBLIC_URL a Zalo chat
gets the text alone). Names are random, so a file's address cannot be guessed; files are
removed after MEDIA_RETENTION_DAYS.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import TypeGuard

from aiohttp import web

PREFIX = "media:"
NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.png$")
ROUTE = "/media/{name}"


class MediaStore:
    def __init__(self, directory: Path, public_url: str = "") -> None:
        self.directory = directory
        self.public_url = public_url.rstrip("/")

    def save(self, data: bytes) -> str:
        """Write a PNG; the photo reference to put in a payload. Blocking: run in a thread."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{secrets.token_urlsafe(18)}.png"
        path = self.directory / name
        path.write_bytes(data)
        path.chmod(0o600)
        return PREFIX + name

    def path(self, reference: str) -> Path | None:
        """The file behind `media:<name>`, or None (not ours, or gone)."""
        name = reference.removeprefix(PREFIX)
        if not reference.startswith(PREFIX) or not NAME.fullmatch(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def url(self, reference: str) -> str | None:
        """Where a channel that takes photos by URL fetches it; None without PUBLIC_URL."""
        if not self.public_url or self.path(reference) is None:
            return None
        return f"{self.public_url}/media/{reference.removeprefix(PREFIX)}"

    def prune(self, *, older_than_days: int) -> int:
        """Remove files older than that (sent long ago, or never). Blocking: run in a thread."""
        if not self.directory.is_dir():
            return 0
        cutoff = time.time() - older_than_days * 86400
        removed = 0
        for path in self.directory.iterdir():
            if NAME.fullmatch(path.name) and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def add_route(self, app: web.Application) -> None:
        """GET /media/<name> on the bot's web server, for Zalo to fetch."""

        async def serve(request: web.Request) -> web.StreamResponse:
            path = self.path(PREFIX + request.match_info["name"])
            if path is None:
                raise web.HTTPNotFound()
            return web.FileResponse(path, headers={"Content-Type": "image/png", "Cache-Control": "private"})

        app.router.add_get(ROUTE, serve)


def is_media(photo: object) -> TypeGuard[str]:
    return isinstance(photo, str) and photo.startswith(PREFIX)
