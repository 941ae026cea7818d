"""The HTTP/1.1 protocol of a serving worker: uvicorn's httptools protocol, with limits on request heads.

A worker parses HTTP with uvicorn's ``httptools`` protocol (llhttp), which bounds nothing
in a request's head: a 1 MB header field, 100,000 fields, or a field that never ends are
all read into memory (four unfinished 100 MB heads took a worker from 388 to 939 MB).
uvicorn's ``h11`` protocol has ``h11_max_incomplete_event_size``, but it answers 400,
does not count fields, and parses at about half the speed. So :func:`protocol_class`
subclasses the httptools protocol:

* every byte received while a head is incomplete is counted; past
  :attr:`HeadLimits.max_bytes` (request line and fields) or :attr:`HeadLimits.max_fields`
  fields, the request is answered ``431 Request Header Fields Too Large`` (a JSON error
  body, ``Connection: close``) and the head is fed to the parser no further, so an
  unfinished head holds at most the limit and one read of the socket (256 KiB);
* the connection is then half-closed: what the client still sends is read and dropped
  (up to 4 MiB, for up to 2 s) so that it can read the 431 instead of a reset, then closed.

Limits are ``dosirak serve --max-header-bytes`` and ``--max-headers``. The request path
pays one addition per read and one comparison per request.

It also drains more gently than uvicorn on a graceful stop. uvicorn closes every
connection that has no response in progress at once; a keep-alive client whose next
request is already on the wire (or a client just accepted, whose first request has not
arrived) then gets a reset instead of an answer. Here, on stop, a response in progress or
a request whose head is arriving is answered with ``Connection: close``; an idle
connection stays open for :data:`DRAIN_IDLE_S` more, and a request arriving meanwhile is
answered the same way; only a connection idle all that time is closed. A connection
accepted just as the stop began (after uvicorn's round of ``shutdown`` calls) is treated
the same way from its start.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

#: Bytes still read (and dropped) from a refused connection before it is closed.
DRAIN_BYTES = 4 << 20
#: Seconds a refused connection stays half-open for the client to read the 431.
LINGER_S = 2.0
#: Seconds an idle keep-alive connection stays open after a graceful stop began, for a request already sent.
DRAIN_IDLE_S = 1.0


@dataclass(frozen=True)
class HeadLimits:
    """How large a request's head may be.

    Attributes:
        max_bytes: The request line and every header field together, in bytes.
        max_fields: Header fields.
    """

    max_bytes: int = 65536
    max_fields: int = 100


#: What ``dosirak serve`` uses unless told otherwise.
DEFAULT_HEAD_LIMITS = HeadLimits()


def head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """Bytes of a parsed head: the URL, and each field with its ``: `` and line end (plus the method and version)."""
    return 16 + len(url) + sum(len(name) + len(value) + 4 for name, value in headers)


def protocol_class(limits: HeadLimits, stopping: Callable[[], bool] | None = None) -> type[Any]:
    """uvicorn's httptools protocol refusing heads beyond ``limits`` with 431 (pass it as ``uvicorn.Config(http=...)``).

    ``stopping`` tells whether the server's graceful stop has begun (uvicorn's ``should_exit``).
    """
    import httptools
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    request_ids = itertools.count(1)
    prefix = f"{os.getpid():x}-h"

    class HeadLimitedProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_bytes = 0  # bytes received for the head being read; -1 while its body is read
            self._refusal: str | None = None
            self._drained = 0
            self._stopping = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if stopping is not None and stopping():
                self.shutdown()

        def data_received(self, data: bytes) -> None:
            if self._refusal is not None:  # answered 431: drop what the client still sends
                self._drained += len(data)
                if self._drained > DRAIN_BYTES:
                    self.transport.close()
                return
            if self._head_bytes >= 0:
                self._head_bytes += len(data)
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                if self._refusal is not None:  # raised from on_headers_complete below
                    self._answer_431()
                    return
                message = "Invalid HTTP request received."
                self.logger.warning(message)
                self.send_400_response(message)
                return
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
                return
            if self._head_bytes > limits.max_bytes:  # still in the head, and past the limit
                self._refusal = (f"the request's head is larger than {limits.max_bytes} bytes; "
                                 "send less in headers, or raise dosirak serve --max-header-bytes")
                self._answer_431()
            elif self._head_bytes >= 0 and self.headers is not None and len(self.headers) > limits.max_fields:
                self._refusal = self._too_many_fields()
                self._answer_431()

        def on_headers_complete(self) -> None:
            received, self._head_bytes = self._head_bytes, -1
            if len(self.headers) > limits.max_fields:
                self._refusal = self._too_many_fields()
            elif received > limits.max_bytes and head_size(self.url, self.headers) > limits.max_bytes:
                self._refusal = (f"the request's head is larger than {limits.max_bytes} bytes; "
                                 "send less in headers, or raise dosirak serve --max-header-bytes")
            if self._refusal is not None:
                raise ValueError(self._refusal)  # stops the parser; data_received answers 431
            super().on_headers_complete()
            if self._stopping:
                self.cycle.keep_alive = False  # answered with Connection: close, then closed

        def shutdown(self) -> None:
            """Begin a graceful stop of this connection (see the module docstring)."""
            self._stopping = True
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.keep_alive = False
                return
            if self._head_bytes > 0:  # a request's head is arriving: on_headers_complete answers it with close
                return
            self._unset_keepalive_if_required()  # idle: a request may be on its way; close only after a quiet while
            self.timeout_keep_alive_task = self.loop.call_later(DRAIN_IDLE_S, self.timeout_keep_alive_handler)

        def on_message_complete(self) -> None:
            self._head_bytes = 0  # the next request's head starts
            super().on_message_complete()

        def _too_many_fields(self) -> str:
            return (f"the request has more than {limits.max_fields} header fields; send fewer, "
                    "or raise dosirak serve --max-headers")

        def _answer_431(self) -> None:
            body = orjson.dumps({"error": {"type": "header_fields_too_large", "message": self._refusal,
                                           "request_id": f"{prefix}{next(request_ids):x}"}})
            content = [STATUS_LINE[431]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend([b"content-type: application/json\r\n",
                            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                            b"connection: close\r\n\r\n", body])
            self.transport.write(b"".join(content))
            self.logger.info("431: %s", self._refusal)
            if self.transport.can_write_eof():
                self.transport.write_eof()  # the answer is all we send; keep reading a while
                self.loop.call_later(LINGER_S, self.transport.close)
            else:
                self.transport.close()

    return HeadLimitedProtocol


__all__ = ["DEFAULT_HEAD_LIMITS", "DRAIN_BYTES", "DRAIN_IDLE_S", "LINGER_S", "HeadLimits", "head_size", "protocol_class"]
