"""The ASGI vocabulary the model server and the dashboard share (as Starlette's ``types.py``).

``Scope`` describes a connection, ``Receive`` awaits the next message from the client,
``Send`` sends one, and an ``ASGIApp`` is any callable taking the three; the shapes match
Starlette's, so dosirak's apps and middlewares and Starlette's fit each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send"]
