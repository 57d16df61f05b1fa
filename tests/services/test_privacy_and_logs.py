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


async def test_the_bot_servers_token_in_a_request_url_is_not_logged(monkeypatch):
    """httpx logs each request's URL at INFO; the call to Rasa carries its token in the query."""
    import httpx

    stream = io.StringIO()
    logs.configure("INFO", json_format=True)
    logging.getLogger().handlers[0].stream = stream
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[]))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.post("http://127.0.0.1:5005/webhooks/rest/webhook?token=s3cret-rasa-token", json={})
    logging.getLogger("test").info("after the call")
    assert "after the call" in stream.getvalue() and "s3cret-rasa-token" not in stream.getvalue()


# Every way the platform takes a phone or an ID number (channels/phones.py ignores non-digits).
WRITTEN = {
    "13812345678": ("138****5678",), "138-1234-5678": ("138****5678",),
    "138 1234 5678": ("138****5678",), "138.1234.5678": ("138****5678",),
    "+86 138 1234 5678": ("+86 138****5678",), "+86-138-1234-5678": ("+86-138****5678",),
    "+8613812345678": ("138****5678",), "8613812345678": ("138****5678",),
    "0086 138 1234 5678": ("138****5678",), "１３８１２３４５６７８": ("138****5678",),
    "34150319500101123X": ("341503********123X",), "34150319500101123x": ("341503********123x",),
    "341503 19500101 123X": ("341503********123X",), "341503195001011": ("341503******011",),
    "0551-3312345": ("0551-***2345",), "0551 3312345": ("0551 ***2345",),
}


def digits_of(text: str) -> str:
    return "".join(str(int(c)) for c in text if c.isdigit())


def test_mask_text_finds_every_format_the_platform_accepts():
    for written, shown in WRITTEN.items():
        masked = mask_text(f"来电{written}，请回电")
        assert written not in masked and digits_of(written) not in digits_of(masked), (written, masked)
        assert any(s in masked for s in shown), (written, masked)


def test_text_and_json_logs_mask_every_format():
    for json_format in (True, False):
        stream = io.StringIO()
        logs.configure("INFO", json_format=json_format)
        logging.getLogger().handlers[0].stream = stream
        for written in WRITTEN:
            logging.getLogger("test").warning("from %s", written, extra={"contact": written})
        out = stream.getvalue()
        for written in WRITTEN:
            assert written not in out and digits_of(written) not in digits_of(out), (json_format, written)
    logs.configure("INFO", json_format=True)


async def test_database_errors_do_not_carry_the_values(settings):
    """A failed statement's message (which the app logs) names no bound value."""
    from sqlalchemy import text

    from hotline.db import create_engine

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table WHERE phone = :p"), {"p": "13812345678"})
    except Exception as exc:  # noqa: BLE001 - any database error will do
        assert "13812345678" not in str(exc)
    else:
        raise AssertionError("the statement should have failed")
    finally:
        await engine.dispose()


def test_every_log_path_masks_every_format(capsys):
    """Our handler, a library's own handler (Rasa and SQLAlchemy install theirs), a traceback,
    `extra` fields: none prints a number in full (the record factory masks every record)."""
    logs.configure("INFO", json_format=True)
    ours = io.StringIO()
    logging.getLogger().handlers[0].stream = ours
    theirs = io.StringIO()
    library = logging.getLogger("sqlalchemy.engine.Engine")
    own_handler = logging.StreamHandler(theirs)
    own_handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    library.addHandler(own_handler)
    try:
        for written in WRITTEN:
            for name in ("hotline", "sanic.error", "sanic.access", "asyncio", "rasa.core"):
                logging.getLogger(name).warning("turn from %s", written, extra={"contact": written})
            try:
                raise ValueError(f"(asyncpg.UniqueViolation) [parameters: ('{written}',)]")
            except ValueError:
                library.exception("statement failed for %s", written)
                logging.getLogger("hotline").exception("unhandled")
    finally:
        library.removeHandler(own_handler)
    for out in (ours.getvalue(), theirs.getvalue(), capsys.readouterr().err):
        for written in WRITTEN:
            assert written not in out and digits_of(written) not in digits_of(out), written
    assert "UniqueViolation" in theirs.getvalue() and "Traceback" in theirs.getvalue()

