"""The pre-built frames the feed writes to WebSocket watchers are the frames the websockets
library itself would send."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from bidwire.wire.frames import text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
def test_text_frames_match_the_library(size: int) -> None:
    payload = b"x" * size
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame(payload) == expected
