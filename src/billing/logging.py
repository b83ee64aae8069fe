"""Structured logs (structlog): key/value console output by default, JSON lines when ``log.format = "json"``."""

from __future__ import annotations

import logging
import sys

import structlog

from billing.settings import LogSettings


def configure(settings: LogSettings) -> None:
    level = logging.getLevelNamesMapping().get(settings.level.upper(), logging.INFO)
    renderer = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # one write() per line: the stdlib handler below shares stderr, and print()'s separate newline write
        # let its lines land inside ours (JSON lines must stay whole for log shippers)
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the demo output
