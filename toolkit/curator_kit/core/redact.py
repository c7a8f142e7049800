"""Text fit to print: credentials in URLs masked, terminal escape codes stripped.

Every line curator-kit prints that can carry a URL from a user (plans, build logs and progress,
errors) goes through `mask_credentials`; build output goes through `printable_line` too. The mask
is pip's own spelling, so a log reads the same whether pip or curator-kit printed the URL:
`https://user:****@host/simple`, and a bare token `https://****@host/simple`.
"""

from __future__ import annotations

import re

MASK = "****"
# scheme://USERINFO@ : the userinfo runs to the last `@` before the path (a password may hold an
# unencoded `@`, or a space in a URL being refused); `/`, `?`, `#` and line ends end the authority.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\r\n]*)@")
# ECMA-48 escapes: CSI (colours, cursor moves, erase: ESC [ ... final byte), OSC (titles, links:
# ESC ] ... BEL or ESC \), character-set choices (ESC ( B) and the other ESC + one-character codes.
_TERMINAL_CODE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]+[0-~]|\x1b[0-~]")


def _masked_userinfo(match: re.Match[str]) -> str:
    user, has_password, _password = match["userinfo"].partition(":")
    # Without a password the user part is the secret (a token), as pip treats it.
    shown = f"{user}:{MASK}" if has_password else MASK
    return f"{match['scheme']}{shown}@"


def mask_credentials(text: str) -> str:
    """`text` with the password (or token) of every URL in it replaced by `****`."""
    return _URL_USERINFO.sub(_masked_userinfo, text)


def strip_terminal_codes(text: str) -> str:
    """`text` without ANSI escape sequences: colours and cursor moves mean nothing in a log file."""
    return _TERMINAL_CODE.sub("", text)


def printable_line(line: str) -> str:
    """A line of build output as curator-kit shows and keeps it: no escape codes, no credentials."""
    return mask_credentials(strip_terminal_codes(line))
