"""Middleware signals sent only to the middleware that handle them.

Dramatiq's broker calls every middleware for every signal: with our stack of about twenty,
each job makes well over a hundred calls, most of them to the base class's empty hooks, and
that was a seventh of a worker's CPU. This mixin sends a signal to the middleware whose class
overrides the hook, in the same order, with the same error handling, and recomputes the list
whenever middleware is added.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dramatiq import Middleware
from dramatiq.middleware import MiddlewareError


class QuickSignals:
    middleware: list[Middleware]
    logger: Any

    def _handlers(self, name: str, reverse: bool) -> list[tuple[Middleware, Callable[..., Any]]]:
        cache: dict[tuple[str, int], list[tuple[Middleware, Callable[..., Any]]]] = self.__dict__.setdefault(
            "_signal_handlers", {}
        )
        key = (name, len(self.middleware))
        handlers = cache.get(key)
        if handlers is None:
            empty = getattr(Middleware, name, None)
            ordered = reversed(self.middleware) if reverse else self.middleware
            handlers = [
                (middleware, getattr(middleware, name))
                for middleware in ordered
                if hasattr(middleware, name) and getattr(type(middleware), name, None) is not empty
            ]
            cache[key] = handlers
        return handlers

    def add_middleware(self, middleware: Middleware, **kwargs: Any) -> None:
        self.__dict__.pop("_signal_handlers", None)
        super().add_middleware(middleware, **kwargs)  # type: ignore[misc]

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        name = "before_" + signal
        for middleware, handler in self._handlers(name, reverse=False):
            try:
                handler(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", name, middleware, exc_info=True)

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        name = "after_" + signal
        for middleware, handler in self._handlers(name, reverse=True):
            try:
                handler(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", name, middleware, exc_info=True)
