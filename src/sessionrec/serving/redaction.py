"""Keeping store credentials out of responses, log lines and banners.

A Redis URL may carry a user and password (``redis://user:secret@host:6379/0``) or a
``password=`` query parameter. Wherever the service shows a URL it shows
:func:`redact_url`'s form, ``redis://***@host:6379/0``; error texts that come from
the Redis client pass through :func:`redact`; and :data:`LOG_FILTER`, on the
``sessionrec`` loggers, masks any registered secret a log record would still hold
(its message, arguments or traceback).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_KEYS = frozenset({"password", "username", "user"})
MIN_SECRET_CHARS = 4  # shorter ones are masked inside URLs only: replacing them everywhere mangles text


def redact_url(url: str) -> str:
    """``scheme://user:password@host:port/db?password=...`` with every credential masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # unparsable: it may still hold a secret, so show none of it
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in SECRET_KEYS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def secrets_of(url: str) -> set[str]:
    """The secrets a URL carries (the password, the whole user-info), as written and percent-decoded.

    A user name alone is no secret, but ``redis://TOKEN@host`` puts a token there.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    found: set[str] = set()
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        found.add(userinfo)
        found.add(userinfo.partition(":")[2])
    found.update(v for k, v in parse_qsl(parts.query) if k.lower() == "password")
    found |= {unquote(secret) for secret in found}
    return {secret for secret in found if secret}


def redact(text: str, url: str) -> str:
    """``text`` with ``url`` shown redacted and its secrets masked wherever they appear."""
    text = text.replace(url, redact_url(url))
    for secret in sorted(secrets_of(url), key=len, reverse=True):
        if len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """Masks registered secrets in each record's message and traceback before any handler sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def register(self, url: str) -> None:
        if secrets_of(url):
            self.urls.add(url)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.urls:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for url in self.urls:
            message = redact(message, url)
            if record.exc_text:
                record.exc_text = redact(record.exc_text, url)
        record.msg, record.args = message, None
        return True


LOG_FILTER = SecretFilter()
LOGGERS = ("sessionrec", "sessionrec.serving")


def install_log_filter(url: str) -> None:
    """Register ``url``'s secrets and make sure the sessionrec loggers mask them."""
    LOG_FILTER.register(url)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if LOG_FILTER not in logger.filters:
            logger.addFilter(LOG_FILTER)
