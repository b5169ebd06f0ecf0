import pytest

from shared.http import decode_cursor, encode_cursor, money, parse_money


@pytest.mark.parametrize(
    "text,cents", [("0.00", 0), ("12.50", 1250), ("7", 700), ("0.1", 10), ("99999999.99", 9999999999)]
)
def test_parse_money(text, cents):
    assert parse_money(text) == cents


@pytest.mark.parametrize("text", ["-1.00", "1.005", "abc", "NaN", "Infinity", "100000000.00"])
def test_bad_money_is_refused(text):
    with pytest.raises(ValueError):
        parse_money(text)


def test_money_has_two_places():
    assert money(0) == "0.00"
    assert money(22055) == "220.55"


def test_cursor_round_trip_and_garbage():
    assert decode_cursor(encode_cursor({"id": 5})) == {"id": 5}
    assert decode_cursor(None) is None
    from fastapi import HTTPException

    with pytest.raises(HTTPException):
        decode_cursor("not-a-cursor!!")
