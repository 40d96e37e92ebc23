"""Replace a file so that readers see the old or the new content, never a mix.

Used by the `.env` edits (write-back, `check --fix`) and the GitLab dotenv report.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sentry_release.errors import WriteBackError


def read_bytes_if_exists(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriteBackError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _create_temp_beside(target: Path) -> tuple[int, Path]:
    # Not tempfile.mkstemp: its 0o600 would leak into a newly created file, whereas 0o666 here
    # gets the umask applied like any file the user creates.
    for _ in range(100):
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp
        except FileExistsError:
            continue
    raise WriteBackError(f"cannot create a temporary file beside {target}")


def _copy_mode_and_owner(fd: int, original: os.stat_result) -> None:
    os.fchmod(fd, original.st_mode & 0o7777)
    if (original.st_uid, original.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, original.st_uid, original.st_gid)
        except PermissionError:
            pass  # only root may give a file away; the content matters more than its owner


def _fsync_directory(directory: Path) -> None:
    # Makes the rename durable. Best effort: the new content is already in place, and some
    # filesystems cannot open or fsync a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(target: Path, data: bytes) -> None:
    """Replace `target` with `data` (keeping its mode, and owner where allowed), or leave it as it was."""
    try:
        original = os.stat(target)
    except FileNotFoundError:
        original = None
    except OSError as exc:
        raise WriteBackError(f"cannot inspect {target}: {exc.strerror or exc}") from exc
    try:
        fd, temp = _create_temp_beside(target)
    except OSError as exc:
        raise WriteBackError(
            f"cannot write in {target.parent}: {exc.strerror or exc}; check the folder exists and is writable"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            if original is not None:
                _copy_mode_and_owner(stream.fileno(), original)
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        remove_quietly(temp)
        if isinstance(exc, OSError):
            raise WriteBackError(f"cannot write {target}: {exc.strerror or exc}; it was left unchanged") from exc
        raise
    _fsync_directory(target.parent)


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
