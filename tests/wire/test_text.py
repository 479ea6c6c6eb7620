from bidwire.wire.text import parse_line


def test_bare_numbers_bid_and_words_are_commands() -> None:
    assert parse_line("150").verb == "bid"
    assert parse_line(" 150.50 \r").arg == "150.50"
    assert parse_line("QUIT").verb == "quit"
    assert parse_line("lot vase").arg == "vase"
    assert parse_line("").verb == "empty"
    assert parse_line("dance").verb == "unknown"
