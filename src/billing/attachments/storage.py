"""Content-addressed local file storage for attachments.

A file lives at ``<attachments_dir>/<sha256[:2]>/<sha256>``: identical content is stored once, and a stored
file never changes. Writes stream into a temporary file in the same directory tree and are published with an
atomic ``os.replace``, so a reader never sees a partial file and a crash leaves at most a stray ``.upload-*``.
Nothing is ever loaded whole into memory.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from billing.errors import PayloadTooLarge
from billing.settings import Settings

CHUNK_BYTES = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class AttachmentStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Settings) -> AttachmentStorage:
        return cls(settings.storage.attachments_dir)

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):  # never let a stored value walk out of the storage directory
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def store(self, stream: BinaryIO, limit: int) -> tuple[str, int, Path]:
        """Copy ``stream`` into storage in chunks; (sha256, size, path). 413 once more than ``limit`` bytes."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        handle = tempfile.NamedTemporaryFile(dir=self.root, prefix=".upload-", delete=False)  # noqa: SIM115
        temp = Path(handle.name)
        try:
            with handle:
                while chunk := stream.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"The file exceeds the limit of {limit} bytes.")
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            sha256 = digest.hexdigest()
            target = self.path(sha256)
            if target.exists():  # the same content is already stored
                temp.unlink()
            else:
                target.parent.mkdir(exist_ok=True)
                os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return sha256, size, target

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")
