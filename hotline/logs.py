"""Structured (JSON) logs that never print a phone or ID number in full."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from hotline.privacy import mask_log_records, mask_text

_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class MaskingJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return mask_text(json.dumps(payload, ensure_ascii=False, default=str))


class MaskingTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def configure(level: str = "INFO", json_format: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        MaskingJsonFormatter()
        if json_format
        else MaskingTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    mask_log_records()  # also what other handlers print (the formatters below mask too)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request's URL at INFO: the bot servers' token travels in the query string
    # (Rasa's REST auth), so only its warnings are logged.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Sanic installs its own handlers; route them through ours so they are masked too.
    for name in ("sanic.root", "sanic.error", "sanic.access", "sanic.server"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
