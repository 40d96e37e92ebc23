"""Field validation that answers like Sentry's DRF serializers (RULES.md §3).

Each ``*_field`` helper reads one key of a request body and either returns the cleaned value,
returns ``MISSING`` when the key is absent and optional, or raises ``FieldInvalid`` with the
list of DRF messages. ``Errors`` collects them into the ``{"field": ["msg"]}`` shape that the
server returns with status 400.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

MISSING: Any = object()

REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
NOT_BLANK = "This field may not be blank."
NOT_STRING = "Not a valid string."
NOT_EMPTY_LIST = "This list may not be empty."
BAD_URL = "Enter a valid URL."
BAD_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)

MAX_VERSION_LENGTH = 200
MAX_COMMIT_LENGTH = 64
MAX_ENVIRONMENT_LENGTH = 64
BAD_RELEASE_CHARS = "\r\n\f\x0c\t/\\"
ENVIRONMENT_NAME_PATTERN = re.compile(r"^[^\n\r\f\/]*$")
PATCH_SET_TYPES = ("A", "M", "D")


class FieldInvalid(Exception):
    """One field failed; ``detail`` is a list of messages or a nested error dict."""

    def __init__(self, detail: Any) -> None:
        super().__init__(detail)
        self.detail = detail


class ServerBug(Exception):
    """Input that makes the real server crash with a 500 (documented in RULES.md)."""


class Errors:
    """Collects field errors in DRF's shape; all failing fields are reported together."""

    def __init__(self) -> None:
        self.detail: dict[str, Any] = {}

    def read(self, data: Mapping[str, Any], name: str, field: Callable[[Any], Any], *, required: bool = False) -> Any:
        if name not in data:
            if required:
                self.detail[name] = [REQUIRED]
            return MISSING
        try:
            return field(data[name])
        except FieldInvalid as failure:
            self.detail[name] = failure.detail
            return MISSING

    def __bool__(self) -> bool:
        return bool(self.detail)


def too_long(limit: int) -> str:
    return f"Ensure this field has no more than {limit} characters."


def char(
    *,
    max_length: int | None = None,
    allow_null: bool = False,
    allow_blank: bool = False,
    trim: bool = True,
) -> Callable[[Any], Any]:
    """A DRF ``CharField``: numbers become strings, booleans and containers are rejected."""

    def clean(value: Any) -> Any:
        if value is None:
            if allow_null:
                return None
            raise FieldInvalid([NOT_NULL])
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise FieldInvalid([NOT_STRING])
        text = str(value)
        if text == "" or (trim and text.strip() == ""):
            if allow_blank:
                return ""
            raise FieldInvalid([NOT_BLANK])
        if trim:
            text = text.strip()
        if max_length is not None and len(text) > max_length:
            raise FieldInvalid([too_long(max_length)])
        return text

    return clean


_TLD = r"\.(?!-)(?:[a-z\u00a1-\uffff-]{2,63}|xn--[a-z0-9]{1,59})(?<!-)\.?"
_HOST_LABEL = r"[a-z0-9\u00a1-\uffff](?:[a-z0-9\u00a1-\uffff-]{0,61}[a-z0-9\u00a1-\uffff])?"
_DOMAIN = rf"(?:{_HOST_LABEL})(?:\.(?!-)[a-z0-9\u00a1-\uffff-]{{1,63}}(?<!-))*{_TLD}"
_IPV4 = r"(?:0|25[0-5]|2[0-4]\d|1\d?\d?|[1-9]\d?)(?:\.(?:0|25[0-5]|2[0-4]\d|1\d?\d?|[1-9]\d?)){3}"
# Modelled on Django's URLValidator: a dotted host with a TLD, localhost or an IP literal.
_URL = re.compile(
    rf"^(?:https?|ftps?)://(?:[^\s:@/]+(?::[^\s:@/]*)?@)?"
    rf"(?:{_IPV4}|\[[0-9a-f:.]+\]|{_DOMAIN}|localhost)"
    r"(?::[0-9]{1,5})?(?:[/?#][^\s]*)?\Z",
    re.IGNORECASE,
)


def url(*, allow_null: bool = True) -> Callable[[Any], Any]:
    """A DRF ``URLField`` (Django's URLValidator); ``""`` is accepted as "no URL"."""
    as_text = char(allow_null=allow_null, allow_blank=True)

    def clean(value: Any) -> Any:
        text = as_text(value)
        if text and not _URL.match(text):
            raise FieldInvalid([BAD_URL])
        return text

    return clean


_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6}\d{0,6})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_datetime(value: Any) -> datetime:
    """ISO-8601 as DRF accepts it; naive values are UTC (date-only works as on Python 3.11+)."""
    if not isinstance(value, str) or not _ISO_DATETIME.match(value.strip()):
        raise FieldInvalid([BAD_DATETIME])
    text = value.strip().replace(",", ".")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise FieldInvalid([BAD_DATETIME]) from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def date_time(*, allow_null: bool = True) -> Callable[[Any], Any]:
    def clean(value: Any) -> Any:
        if value is None:
            if allow_null:
                return None
            raise FieldInvalid([NOT_NULL])
        return parse_datetime(value)

    return clean


def list_of(
    child: Callable[[Any], Any] | None = None,
    *,
    allow_empty: bool = True,
    index_errors: bool = True,
) -> Callable[[Any], Any]:
    """A DRF ``ListField``; child errors are keyed by the item's index."""

    def clean(value: Any) -> Any:
        if value is None:
            raise FieldInvalid([NOT_NULL])
        if isinstance(value, (str, dict)) or not isinstance(value, list):
            raise FieldInvalid([f'Expected a list of items but got type "{type(value).__name__}".'])
        if not value and not allow_empty:
            raise FieldInvalid([NOT_EMPTY_LIST])
        if child is None:
            return list(value)
        cleaned: list[Any] = []
        failures: dict[str, Any] = {}
        for index, item in enumerate(value):
            try:
                cleaned.append(child(item))
            except FieldInvalid as failure:
                failures[str(index)] = failure.detail
        if failures:
            if index_errors:
                raise FieldInvalid(failures)
            # Sentry 23.7.1 answered with the first item's errors, not keyed by index.
            raise FieldInvalid(next(iter(failures.values())))
        return cleaned

    return clean


def nested(reader: Callable[[Errors, Mapping[str, Any]], dict[str, Any]]) -> Callable[[Any], Any]:
    """A nested serializer: ``reader`` fills an ``Errors`` and returns the cleaned dict."""

    def clean(value: Any) -> Any:
        if not isinstance(value, dict):
            raise FieldInvalid(
                {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(value).__name__}."]}
            )
        errors = Errors()
        cleaned = reader(errors, value)
        if errors:
            raise FieldInvalid(errors.detail)
        return cleaned

    return clean


def present(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not MISSING}


# --- release version (§3.1) -------------------------------------------------------------------


def is_valid_version(version: str) -> bool:
    if any(char_ in version for char_ in BAD_RELEASE_CHARS):
        return False
    stripped = version.strip()
    return stripped not in ("", ".", "..") and stripped.lower() != "latest"


def version_field(value: Any) -> str:
    text = char(max_length=MAX_VERSION_LENGTH, trim=False)(value)
    if not is_valid_version(text):
        raise FieldInvalid([f"Release with name {text} is not allowed"])
    return text


# --- commits (§3.3) ---------------------------------------------------------------------------


def patch_type_field(value: Any) -> str:
    text = char(max_length=1)(value)
    if text not in PATCH_SET_TYPES:
        raise FieldInvalid([f"Commit patch_set type {text} is not supported."])
    return text


def _read_patch(errors: Errors, data: Mapping[str, Any]) -> dict[str, Any]:
    return present(
        {
            "path": errors.read(data, "path", char(max_length=510), required=True),
            "type": errors.read(data, "type", patch_type_field, required=True),
        }
    )


def _nullable_list(child: Callable[[Any], Any], index_errors: bool) -> Callable[[Any], Any]:
    as_list = list_of(child, index_errors=index_errors)
    return lambda value: None if value is None else as_list(value)


def commit_reader(index_errors: bool = True) -> Callable[[Errors, Mapping[str, Any]], dict[str, Any]]:
    def read(errors: Errors, data: Mapping[str, Any]) -> dict[str, Any]:
        optional = {"allow_null": True, "allow_blank": True}
        cleaned = present(
            {
                "id": errors.read(data, "id", char(max_length=MAX_COMMIT_LENGTH), required=True),
                "repository": errors.read(data, "repository", char(max_length=64, **optional)),
                "message": errors.read(data, "message", char(trim=False, **optional)),
                "author_name": errors.read(data, "author_name", char(max_length=128, **optional)),
                "author_email": errors.read(data, "author_email", char(max_length=200, **optional)),
                "timestamp": errors.read(data, "timestamp", date_time()),
                "patch_set": errors.read(
                    data, "patch_set", _nullable_list(nested(_read_patch), index_errors)
                ),
            }
        )
        # The server tests `"#skipsentry" in message`; an explicit null crashes it (RULES §3.3).
        cleaned["_null_message"] = "message" in data and data["message"] is None
        return cleaned

    return read


# --- refs and headCommits (§3.4) --------------------------------------------------------------


def ref_commit_field(value: Any) -> str:
    text = char()(value)
    if ".." not in text:
        if len(text) > MAX_COMMIT_LENGTH:
            raise FieldInvalid(["Commit too long - max is 64 chars"])
        return text
    halves = text.split("..")
    if len(halves) > 2:
        raise ServerBug("ValueError: too many values to unpack (expected 2)")
    previous, current = halves
    if not previous or not current:
        raise FieldInvalid(["Commit cannot begin or end with .."])
    if len(previous) > MAX_COMMIT_LENGTH or len(current) > MAX_COMMIT_LENGTH:
        raise FieldInvalid(["Start or end commit too long - max is 64 chars each"])
    return text


def read_ref(errors: Errors, data: Mapping[str, Any]) -> dict[str, Any]:
    return present(
        {
            "repository": errors.read(data, "repository", char(max_length=200), required=True),
            "commit": errors.read(data, "commit", ref_commit_field, required=True),
            "previousCommit": errors.read(
                data, "previousCommit", char(max_length=64, allow_null=True, allow_blank=True)
            ),
        }
    )


def read_head_commit(errors: Errors, data: Mapping[str, Any]) -> dict[str, Any]:
    return present(
        {
            "currentId": errors.read(data, "currentId", char(max_length=64), required=True),
            "repository": errors.read(data, "repository", char(max_length=64), required=True),
            "previousId": errors.read(data, "previousId", char(max_length=64, allow_null=True)),
        }
    )


def status_field(value: Any) -> str:
    text = char()(value)
    if text not in ("open", "archived"):
        raise FieldInvalid([f"Invalid status {text}"])
    return text


# --- deploys (§3.5) ---------------------------------------------------------------------------


def environment_field(value: Any) -> str:
    text = char(max_length=MAX_ENVIRONMENT_LENGTH)(value)
    if not is_valid_environment(text):
        raise FieldInvalid(["Invalid value for environment"])
    return text


def is_valid_environment(name: str) -> bool:
    return len(name) <= MAX_ENVIRONMENT_LENGTH and bool(ENVIRONMENT_NAME_PATTERN.match(name))
