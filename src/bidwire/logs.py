"""The server's log lines: the human format by default, one JSON object a line on request.

``--log-format json`` (``BIDWIRE_LOG_FORMAT=json``): every line a whole JSON object with
``ts`` (ms since the epoch), ``level``, ``logger``, ``message``, ``node`` and the fields the
call gave (``log.info("...", extra={"lot": lot_id})``), a traceback as ``exc``. What the
server announces on stdout (listening, stopping, stopped) goes the same way, so that a log
collector never meets a line it cannot parse.

Why the standard library's logging and not structlog: every module already logs through it
(uvicorn too, with ``log_config=None``), and one formatter is all a JSON line needs.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Literal, TextIO
from urllib.parse import urlsplit, urlunsplit

LogFormat = Literal["human", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("human", "json")
HUMAN = "%(asctime)s %(levelname)s %(name)s [%(node)s]: %(message)s"

_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "node"}
"""What every LogRecord carries: anything else on a record is a field the call gave."""


class _State:
    """The process's choice, set once by :func:`setup` (a server is one process)."""

    format: LogFormat = "human"
    node = ""


STATE = _State()


def given_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}


class NodeFilter(logging.Filter):
    """Puts the node's name on every record (it is known for sure only once the port is)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = STATE.node
        return True


OUTAGE_ERRORS = ("PostgresConnectionError", "CannotConnectNowError")
"""asyncpg's own errors (by class name: logs imports no driver) that mean the server is away
or not yet up again ("the database system is starting up")."""


def _outage(error: BaseException) -> bool:
    if isinstance(error, (OSError, TimeoutError)):
        return True
    return any(cls.__name__ in OUTAGE_ERRORS for cls in type(error).__mro__)


class OutageInOneLine(logging.Filter):
    """asyncpg's pool logs each failed reconnect while PostgreSQL is away with a traceback of
    its own internals ("Failed to restore the pool connection floor; retrying"). The outage is
    expected and bidwire says it in words already: the pool's line keeps its words and gains
    the error's, without the traceback. Any other error it logs keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("asyncpg") or not record.exc_info:
            return True
        error = record.exc_info[1]
        if error is None or not _outage(error):
            return True
        record.msg = f"{record.getMessage()}: {error or type(error).__name__}"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = given_fields(record)
        line.update(
            ts=int(record.created * 1000),
            level=record.levelname.lower(),
            logger=record.name,
            message=record.getMessage(),
            node=getattr(record, "node", STATE.node),
        )
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # repr for what JSON cannot hold: a line is never lost to a field's type
        return json.dumps(line, default=repr, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """The usual line, with the fields the call gave after it as ``key=value``."""

    def __init__(self) -> None:
        super().__init__(HUMAN)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = given_fields(record)
        if extra:
            text += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return text


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else HumanFormatter()


def setup(fmt: LogFormat, node: str, stream: TextIO | None = None) -> None:
    """The root logger's one handler (stderr), in ``fmt``; replaces any handler set before."""
    STATE.format = fmt
    STATE.node = node
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(NodeFilter())
    handler.addFilter(OutageInOneLine())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def set_node(name: str) -> None:
    """The node's name for every line from now on (once the ports are bound)."""
    STATE.node = name


def redact(url: str) -> str:
    """``url`` with its password, if any, as ``***``: fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def announce(message: str, stream: TextIO | None = None, **fields: Any) -> None:
    """A line the server prints on stdout for whoever started it (the ports it listens on, that
    it stops): as it always was in the human format, a JSON object with ``fields`` in JSON."""
    out = stream if stream is not None else sys.stdout
    if STATE.format == "json":
        record = logging.makeLogRecord(
            {"name": "bidwire", "levelno": logging.INFO, "levelname": "INFO", "msg": message}
        )
        record.__dict__.update(fields)
        record.node = STATE.node
        out.write(JsonFormatter().format(record) + "\n")
    else:
        out.write(message + "\n")
    out.flush()


def fatal(message: str) -> None:
    """Why the server cannot start or go on, on stderr: ``bidwire: why`` (or its JSON line)."""
    if STATE.format == "json":
        record = logging.makeLogRecord(
            {"name": "bidwire", "levelno": logging.ERROR, "levelname": "ERROR", "msg": message}
        )
        record.node = STATE.node
        sys.stderr.write(JsonFormatter().format(record) + "\n")
    else:
        sys.stderr.write(f"bidwire: {message}\n")
    sys.stderr.flush()
