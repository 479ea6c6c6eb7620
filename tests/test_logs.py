"""Log lines: JSON objects on request, the human format by default, and the settings that pick
them, the bus and the node's name."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bidwire import logs
from bidwire.settings import Settings


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """A logger of the test's own, through the formatter and filter ``logs.setup`` installs,
    into a buffer; the process's format is put back after."""
    saved = (logs.STATE.format, logs.STATE.node)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(logs.NodeFilter())
    logger = logging.getLogger("bidwire.test-logs")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield buffer, logger
    finally:
        logger.removeHandler(handler)
        logs.STATE.format, logs.STATE.node = saved


def test_json_lines_carry_ts_level_logger_message_node_and_the_fields_given(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    buffer, logger = captured
    logger.handlers[0].setFormatter(logs.formatter("json"))
    logs.set_node("node-a")
    logger.info("bid on %s refused", "w", extra={"lot": "w", "code": "too_low", "amount": 150})
    logger.warning("odd value", extra={"what": object(), "ts": "not ours"})
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logger.exception("it failed")
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 3  # a traceback stays inside its one line
    first, second, third = (json.loads(line) for line in lines)
    assert first["message"] == "bid on w refused"
    assert (first["level"], first["logger"], first["node"]) == (
        "info",
        "bidwire.test-logs",
        "node-a",
    )
    assert (first["lot"], first["code"], first["amount"]) == ("w", "too_low", 150)
    assert isinstance(first["ts"], int) and first["ts"] > 1_700_000_000_000
    assert second["level"] == "warning"
    assert second["what"].startswith("<object object")  # what JSON cannot hold, as repr
    assert isinstance(second["ts"], int)  # a field given cannot take the line's own keys
    assert third["level"] == "error"
    assert "RuntimeError: boom\nsecond line" in third["exc"]


def test_the_human_format_names_the_node_and_appends_the_fields(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    buffer, logger = captured
    logger.handlers[0].setFormatter(logs.formatter("human"))
    logs.set_node("node-b")
    logger.warning("lot %s reloaded", "w", extra={"seq": 7})
    (line,) = buffer.getvalue().splitlines()
    assert line.endswith(" WARNING bidwire.test-logs [node-b]: lot w reloaded seq=7"), line


def test_announcements_are_plain_lines_unless_json(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    out = io.StringIO()
    logs.STATE.format = "human"
    logs.announce("bidwire listening: tcp 127.0.0.1:1", out, tcp=1)
    logs.STATE.format = "json"
    logs.STATE.node = "node-c"
    logs.announce("bidwire listening: tcp 127.0.0.1:1", out, tcp=1)
    human, as_json = out.getvalue().splitlines()
    assert human == "bidwire listening: tcp 127.0.0.1:1"
    line = json.loads(as_json)
    assert (line["message"], line["tcp"], line["node"], line["level"]) == (
        "bidwire listening: tcp 127.0.0.1:1",
        1,
        "node-c",
        "info",
    )


def test_a_password_in_a_url_is_never_logged() -> None:
    assert logs.redact("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert logs.redact("postgresql://bid:pw@db/bidwire") == "postgresql://bid:***@db/bidwire"
    assert logs.redact("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"
    assert logs.redact("memory://") == "memory://"


def test_the_bus_node_name_and_log_format_come_from_flags_or_the_environment() -> None:
    default = Settings.build({}, env={})
    assert (default.bus, default.node_name, default.log_format) == ("memory://", "", "human")
    env = {
        "BIDWIRE_BUS": "redis://127.0.0.1:6379/0",
        "BIDWIRE_NODE_NAME": "node-1",
        "BIDWIRE_LOG_FORMAT": "json",
    }
    built = Settings.build({}, env=env)
    assert (built.bus, built.node_name, built.log_format) == (
        "redis://127.0.0.1:6379/0",
        "node-1",
        "json",
    )
    assert Settings.build({}, env={"BIDWIRE_CLOCK_SKEW_MS": "-5000"}).clock_skew_ms == -5_000
    flagged = Settings.build({"node_name": "node-2", "log_format": "human"}, env=env)
    assert (flagged.node_name, flagged.log_format) == ("node-2", "human")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"log_format": "xml"}, "log-format must be human or json, not 'xml'"),
        ({"node_name": "a" * 101}, "node-name must be at most 100 printable characters"),
        ({"node_name": "tab\there"}, "node-name must be at most 100 printable characters"),
        ({"clock_skew_ms": 86_400_001}, "clock-skew-ms must be within"),
        ({"clock_skew_ms": -86_400_001}, "clock-skew-ms must be within"),
    ],
)
def test_bad_operating_settings_are_refused_in_words(flags: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Settings.build(flags, env={})


def test_asyncpgs_reconnect_failures_are_one_line_and_other_errors_keep_their_traceback() -> None:
    """PostgreSQL away: asyncpg's pool logs each failed reconnect with a traceback of its own
    internals; the server's log says it in one line. Anything else keeps its traceback."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.formatter("human"))
    handler.addFilter(logs.NodeFilter())
    handler.addFilter(logs.OutageInOneLine())
    pool = logging.getLogger("asyncpg.pool")
    pool.addHandler(handler)
    saved = pool.propagate
    pool.propagate = False

    def failed(error: BaseException) -> None:
        try:
            raise error
        except BaseException:
            pool.warning("Failed to restore the pool connection floor; retrying", exc_info=True)

    try:
        failed(ConnectionRefusedError(111, "Connection refused"))
        failed(ConnectionResetError(104, "Connection reset by peer"))
        away = buffer.getvalue()
        assert "Traceback" not in away, away
        lines = away.splitlines()
        assert len(lines) == 2, away
        assert lines[0].endswith(
            "Failed to restore the pool connection floor; retrying: [Errno 111] Connection refused"
        ), lines[0]
        assert lines[1].endswith("[Errno 104] Connection reset by peer"), lines[1]
        buffer.truncate(0)
        buffer.seek(0)
        failed(ValueError("a bug"))
        assert "Traceback" in buffer.getvalue() and "ValueError: a bug" in buffer.getvalue()
    finally:
        pool.removeHandler(handler)
        pool.propagate = saved
