import io
import json
import logging

from hotline import logs
from hotline.privacy import mask_id_number, mask_name, mask_phone, mask_text, phone_last4


def test_mask_phone_keeps_only_prefix_and_last_four():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "861******5678"
    assert phone_last4("138 1234 5678") == "5678"


def test_mask_id_number():
    assert mask_id_number("34150319500101123X") == "341503********123X"


def test_mask_name():
    assert mask_name("王秀英") == "王**"


def test_mask_text_finds_numbers_in_free_text():
    text = "我叫王秀英，电话13812345678，身份证34150319500101123X，座机0551-3312345"
    masked = mask_text(text)
    for secret in ("13812345678", "34150319500101123X", "3312345"):
        assert secret not in masked
    assert "5678" in masked and "123X" in masked


def test_json_logs_never_print_phone_or_id_in_full():
    stream = io.StringIO()
    logs.configure("INFO", json_format=True)
    handler = logging.getLogger().handlers[0]
    handler.stream = stream
    logging.getLogger("test").info("citizen %s called from %s", "34150319500101123X", "13900001111",
                                   extra={"phone": "13900001111"})
    line = stream.getvalue().strip()
    record = json.loads(line)
    assert "13900001111" not in line and "34150319500101123X" not in line
    assert record["level"] == "INFO" and record["phone"] == "139****1111"
