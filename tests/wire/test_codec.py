import pytest

from bidwire.errors import ClientError
from bidwire.wire import codec


def code_of(data: bytes) -> str:
    with pytest.raises(ClientError) as info:
        codec.decode(data)
    return info.value.code


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'{"type":"bid","lot":"x","amount":', "bad_json"),
        (b"\xff\xfe\x00garbage", "bad_json"),
        (b'{"type":"teleport"}', "unknown_type"),
        (b'{"lot":"x","amount":100}', "bad_request"),
        (b'{"type":7}', "bad_request"),
        (b"[1,2,3]", "bad_request"),
        (b'{"type":"bid","lot":"x","amount":-5}', "bad_amount"),
        (b'{"type":"bid","lot":"x","amount":0}', "bad_amount"),
        (b'{"type":"bid","lot":"x","amount":12.5}', "bad_amount"),
        (b'{"type":"bid","lot":"x","amount":"100"}', "bad_amount"),
        (b'{"type":"bid","lot":"x","amount":true}', "bad_amount"),
        (b'{"type":"bid","lot":"x","amount":1000000000000001}', "bad_amount"),
        (b'{"type":"bid","lot":"x","amount":100000000000000000000000}', "bad_amount"),
        (b'{"type":"bid","lot":"x"}', "bad_request"),
        (b'{"type":"bid","lot":5,"amount":100}', "bad_request"),
        (b'{"type":"ping","id":{"a":1}}', "bad_request"),
        (b'{"type":"ping","id":"' + b"x" * 65 + b'"}', "bad_request"),
    ],
)
def test_each_fault_has_its_code(data: bytes, code: str) -> None:
    assert code_of(data) == code


def test_request_id_is_echoed_on_faults() -> None:
    with pytest.raises(ClientError) as info:
        codec.decode(b'{"type":"bid","id":"r9","lot":"w","amount":-1}')
    assert info.value.request_id == "r9"  # type: ignore[attr-defined]
    assert info.value.lot == "w"  # type: ignore[attr-defined]


def test_valid_messages_decode() -> None:
    bid = codec.decode(b'{"type":"bid","id":"r1","lot":"w","amount":12500,"extra":1}')
    assert isinstance(bid, codec.Bid) and bid.amount == 12500 and bid.id == "r1"
    assert isinstance(codec.decode('{"type":"ping","id":7}'), codec.Ping)
    resync = codec.decode(b'{"type":"resync","lot":"w","since_seq":12}')
    assert isinstance(resync, codec.Resync) and resync.since_seq == 12


def test_replies_carry_type_and_ts() -> None:
    assert codec.encode(codec.Pong(5, 7)) == b'{"type":"pong","ts":5,"id":7}'


DEEP = 5_000


@pytest.mark.parametrize(
    "data",
    [
        b"[" * DEEP + b"]" * DEEP,
        b'{"type":"ping","pad":' + b"[" * DEEP + b"]" * DEEP + b"}",
        b'{"type":"ping","pad":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
        b'{"type":"bid","lot":"w","amount":' + b"[" * DEEP + b"]" * DEEP + b"}",
    ],
)
def test_json_nested_too_deeply_is_bad_json(data: bytes) -> None:
    assert len(data) <= codec.MAX_MESSAGE_BYTES
    assert code_of(data) == "bad_json"
