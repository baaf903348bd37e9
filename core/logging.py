"""Logs a machine reads: one JSON object per line (``LOG_FORMAT=json``), with the request id and the
user id of the request that wrote them.

- ``RequestIdMiddleware`` (first in ``MIDDLEWARE``) gives every request an id: the incoming
  ``X-Request-ID`` when it is a safe short token (letters, digits, ``.``, ``_``, ``-``; at most 64
  characters: nginx's ``$request_id``, a load balancer's id), else a new uuid4 hex. It answers it in
  the ``X-Request-ID`` header and keeps it, with the request, in a context variable while the
  request runs. With ``LOG_FORMAT=json`` it also writes one line per request (logger
  ``core.requests``): method, path, status, duration — the path only, never the query string,
  which may carry a resident's name or ID number (the searches).
- ``RequestContextFilter`` (on the console handler) puts ``request_id`` and ``user_id`` on every
  record written during a request (None outside one: Celery tasks, commands). The user id is the
  primary key, never the username, and only of a user the request has already loaded: logging
  never reads the session itself (it may be the database that is failing).
- ``JsonFormatter``: ``time`` (ISO 8601 with the office's offset), ``level``, ``logger``,
  ``message``, ``request_id``, ``user_id``; ``path``, ``method``, ``status``, ``duration_ms`` on
  request lines; ``exception`` with the traceback. Nothing else of a record's extras is written
  (Django passes the request object itself to ``django.request``).

The message is what the code logs: no personal data goes into a log call (ids of rows, counts).
The default ``LOG_FORMAT=text`` keeps the plain lines of ``make run``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUEST_FIELDS = ("path", "method", "status", "duration_ms")

request_log = logging.getLogger("core.requests")


@dataclass(frozen=True)
class _Current:
    request_id: str
    request: object


_current: contextvars.ContextVar[_Current | None] = contextvars.ContextVar("core_logging_request", default=None)


def incoming_request_id(request) -> str | None:
    """The client's or the proxy's ``X-Request-ID`` when it is a safe short token, else None."""
    value = request.headers.get(HEADER, "")
    return value if _SAFE_ID.fullmatch(value) else None


def current_request_id() -> str | None:
    current = _current.get()
    return current.request_id if current else None


def _user_id(request):
    # Only a user this request has loaded already (django.contrib.auth caches it on the request):
    # reading request.user here would load the session, from the database, for a log line.
    user = getattr(request, "_cached_user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def current_user_id():
    current = _current.get()
    return _user_id(current.request) if current else None


def _record_ids(record) -> tuple:
    """(request_id, user_id) of a record: the request it names (Django's ``django.request`` lines
    pass it, and write them after the middleware has returned), else the running request."""
    request = getattr(record, "request", None)
    if getattr(request, "request_id", None):
        return request.request_id, _user_id(request)
    return current_request_id(), current_user_id()


class RequestContextFilter(logging.Filter):
    """Puts ``request_id`` and ``user_id`` of the running request on each record (None outside one)."""

    def filter(self, record):
        if not hasattr(record, "request_id") or not hasattr(record, "user_id"):
            record.request_id, record.user_id = _record_ids(record)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring for the keys)."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None,
            "user_id": None,
        }
        if hasattr(record, "request_id") and hasattr(record, "user_id"):  # RequestContextFilter
            entry["request_id"], entry["user_id"] = record.request_id, record.user_id
        else:
            entry["request_id"], entry["user_id"] = _record_ids(record)
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RequestIdMiddleware:
    """The request id (see the module docstring); first in MIDDLEWARE, so every response has it."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.log_requests = str(getattr(settings, "LOG_FORMAT", "text")).lower() == "json"

    def __call__(self, request):
        request_id = incoming_request_id(request) or uuid.uuid4().hex
        request.request_id = request_id
        token = _current.set(_Current(request_id, request))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            if self.log_requests:
                duration_ms = round((time.perf_counter() - started) * 1000, 1)
                # request.path: never the query string (searches carry names and ID numbers).
                request_log.info(
                    "%s %s %s %.1f ms",
                    request.method,
                    request.path,
                    response.status_code,
                    duration_ms,
                    extra={
                        "path": request.path,
                        "method": request.method,
                        "status": response.status_code,
                        "duration_ms": duration_ms,
                    },
                )
            return response
        finally:
            _current.reset(token)
