"""Receiving uploads: the request body is streamed to disk and counted as it arrives.

Starlette's own form parsing spools every file to a temporary file *before* the endpoint runs,
with no size limit; here the multipart stream is parsed chunk by chunk with ``python-multipart``
so the size limit stops a too-large upload at the first byte over it (413), and each file goes
straight to its final place under the data directory while its SHA-256 is computed.

The client's file name is kept as a display string only: files are stored under fixed names
(``video_file``, ``audio_file``, ``file``) in a directory with a random name.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

MAX_FIELD_BYTES = 1024 * 1024
"""Largest text field (a transcript) accepted."""
MAX_PARTS = 64
_BOUNDARY = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
"""RFC 2046's boundary: 1 to 70 characters of its set, not ending with a space."""


@dataclass(frozen=True)
class StoredFile:
    """An uploaded file, already on disk.

    Attributes:
        field: the form field it came in.
        filename: the client's name for it (display only, at most 255 characters).
        path: where it is stored (a name chosen by the server).
        size: bytes.
        sha256: hex digest of its content.
    """

    field: str
    filename: str
    path: Path
    size: int
    sha256: str


@dataclass
class ReceivedForm:
    """The parsed form: stored files, text fields, and the directory holding the files."""

    directory: Path
    files: dict[str, StoredFile] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """A text field, stripped; None when absent or blank."""
        value = self.fields.get(name)
        if value is None:
            return None
        return value.strip() or None

    def speakers(self) -> int | None:
        """The optional ``speakers`` field: how many people speak (1-50), or None when absent.

        Raises:
            HTTPException: 422 when it is not a whole number from 1 to 50.
        """
        value = self.text("speakers")
        if value is None:
            return None
        if not value.isdigit() or not 1 <= int(value) <= 50:
            raise HTTPException(422, "speakers must be a whole number from 1 to 50 (how many people "
                                     "speak; leave it out to find them)")
        return int(value)

    def cleanup(self) -> None:
        """Delete the uploaded files and their directory."""
        shutil.rmtree(self.directory, ignore_errors=True)


SPEAKERS_FIELD = {"type": "integer", "minimum": 1, "maximum": 50, "description": (
    "optional: how many people speak in the file, when known (default: found automatically)")}
"""The OpenAPI schema of the ``speakers`` form field of ``/predict`` and ``/jobs``."""


def too_large(limit: int) -> HTTPException:
    """The 413 error for a body over ``limit`` bytes."""
    # Connection: close makes the server hang up instead of reading (and dropping) the rest.
    return HTTPException(413, f"upload too large: the limit is {limit} bytes ({limit / 1024**2:.0f} MiB)",
                         headers={"Connection": "close"})


class _Part:
    def __init__(self) -> None:
        self.disposition = b""
        self.name = ""
        self.filename: str | None = None
        self.sink: BinaryIO | None = None
        self.hasher = None
        self.size = 0
        self.data = bytearray()
        self.keep = True


class _MultipartSink:
    """python-multipart callbacks that write file parts to disk and keep text parts in memory."""

    def __init__(self, form: ReceivedForm, file_fields: frozenset[str], text_fields: frozenset[str]):
        self.form, self.file_fields, self.text_fields = form, file_fields, text_fields
        self.part = _Part()
        self.parts = 0
        self._hname = b""
        self._hvalue = b""

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise HTTPException(400, f"too many form parts; at most {MAX_PARTS}")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        if self._hname.lower() == b"content-disposition":
            self.part.disposition = self._hvalue
        self._hname = self._hvalue = b""

    def on_headers_finished(self) -> None:
        part = self.part
        _, params = parse_options_header(part.disposition)
        if b"name" not in params:
            raise HTTPException(400, 'a form part has no name in its Content-Disposition header')
        part.name = params[b"name"].decode("utf-8", "replace")
        if b"filename" in params:
            part.filename = params[b"filename"].decode("utf-8", "replace")[-255:]
            if part.name not in self.file_fields:
                part.keep = False  # an unknown file field: its bytes are counted, never stored
                return
            if part.name in self.form.files:
                raise HTTPException(400, f"the file field {part.name!r} is given twice")
            path = self.form.directory / part.name  # fixed, server-chosen name
            part.sink = open(path, "wb")
            part.hasher = hashlib.sha256()
        elif part.name not in self.text_fields:
            part.keep = False

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        if not part.keep:
            return
        chunk = data[start:end]
        if part.sink is not None:
            part.sink.write(chunk)
            part.hasher.update(chunk)
            part.size += len(chunk)
        else:
            if len(part.data) + len(chunk) > MAX_FIELD_BYTES:
                raise HTTPException(413, f"form field {part.name!r} is over {MAX_FIELD_BYTES} bytes")
            part.data.extend(chunk)

    def on_part_end(self) -> None:
        part = self.part
        if not part.keep:
            return
        if part.sink is not None:
            part.sink.close()
            path = self.form.directory / part.name
            if part.size == 0 and not part.filename:
                path.unlink(missing_ok=True)  # a browser's empty file input: no file chosen
                return
            self.form.files[part.name] = StoredFile(part.name, part.filename or "", path,
                                                    part.size, part.hasher.hexdigest())
        else:
            self.form.fields[part.name] = part.data.decode("utf-8", "replace")

    def close(self) -> None:
        if self.part.sink is not None and not self.part.sink.closed:
            self.part.sink.close()


async def receive_form(request: Request, root: Path, max_bytes: int, *,
                       file_fields: tuple[str, ...], text_fields: tuple[str, ...]) -> ReceivedForm:
    """Stream a ``multipart/form-data`` (or url-encoded) body into a new directory under ``root``.

    Args:
        request: the incoming request; its body is consumed.
        root: parent of the per-request upload directory.
        max_bytes: the body size limit.
        file_fields: file fields to store; other files are read and dropped.
        text_fields: text fields to keep; others are dropped.

    Raises:
        HTTPException: 413 over the limit, 415 not a form, 400 a malformed form. The directory
            is removed before raising.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    form = ReceivedForm(root / uuid.uuid4().hex)
    form.directory.mkdir(parents=True, exist_ok=False)
    try:
        if ctype == b"application/x-www-form-urlencoded":
            body = await _read_limited(request, min(max_bytes, MAX_FIELD_BYTES + 4096))
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            form.fields.update((k, v) for k, v in pairs if k in text_fields)
            return form
        if ctype != b"multipart/form-data" or b"boundary" not in params:
            raise HTTPException(415, "expected a multipart/form-data body (or url-encoded text "
                                     f"fields); got {ctype.decode('latin-1') or 'no content type'}")
        boundary = params[b"boundary"]
        if not _BOUNDARY.fullmatch(boundary):
            raise HTTPException(400, "malformed multipart body: the boundary must be 1 to 70 "
                                     "letters, digits or '()+_,-./:=? ' (RFC 2046)")
        sink = _MultipartSink(form, frozenset(file_fields), frozenset(text_fields))
        received = 0
        try:
            # Built inside the try: python-multipart checks the boundary here too.
            parser = MultipartParser(boundary, {
                "on_part_begin": sink.on_part_begin, "on_part_data": sink.on_part_data,
                "on_part_end": sink.on_part_end, "on_header_field": sink.on_header_field,
                "on_header_value": sink.on_header_value, "on_header_end": sink.on_header_end,
                "on_headers_finished": sink.on_headers_finished})
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_bytes:
                    raise too_large(max_bytes)
                parser.write(chunk)
            parser.finalize()
        except FormParserError as e:
            raise HTTPException(400, f"malformed multipart body: {e}") from e
        finally:
            sink.close()
        if parser.state != MultipartState.END:
            # A truncated upload would otherwise be analysed as if it were the whole file.
            raise HTTPException(400, "malformed multipart body: it ends before the closing "
                                     "boundary (truncated upload?)")
        return form
    except BaseException:
        form.cleanup()
        raise


async def _read_limited(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)
