"""uvicorn's HTTP/1.1 protocol, answering malformed requests with JSON like the app does.

uvicorn refuses a request it cannot parse (a garbled request line, headers past its size limit)
itself, before the app sees it, with a plain-text 400. ``emotrace serve`` runs uvicorn with
:data:`HTTP_PROTOCOL` so that this answer is ``{"detail": …}`` too. It is uvicorn's h11-based
protocol with that one method replaced; when a uvicorn release moves it, ``"auto"`` is used and
only those refusals stay plain text.
"""

from __future__ import annotations

import json
from typing import Any

HTTP_PROTOCOL: Any = "auto"
"""What ``uvicorn.run(http=...)`` gets: the class below, or uvicorn's default."""

try:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol
except ImportError:  # pragma: no cover - another uvicorn layout, or no h11
    H11Protocol = None  # type: ignore[assignment,misc]

if H11Protocol is not None and hasattr(H11Protocol, "send_400_response"):

    class JsonH11Protocol(H11Protocol):  # type: ignore[misc,valid-type]
        """H11Protocol whose refusal of a malformed request is JSON ``{"detail": …}``."""

        def send_400_response(self, msg: str) -> None:
            body = json.dumps({"detail": f"malformed HTTP request: {msg}"}).encode()
            headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
                       (b"content-length", str(len(body)).encode())]
            for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                          h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
            self.transport.close()

    HTTP_PROTOCOL = JsonH11Protocol
