"""How a job's output reads on a page: as plain text, without terminal control sequences.

The log keeps what the core wrote (colours included, for anyone reading it raw through the
API); pages strip the escape sequences when they display it."""

import re

from django import template

register = template.Library()

# CSI sequences (colours, cursor moves: ESC [ ... final byte), OSC sequences (titles, links:
# ESC ] ... BEL or ESC \), and the remaining two-byte escapes.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text or "")


@register.filter
def plain_log(text: str) -> str:
    """`{{ job.log_tail|plain_log }}`: the text without ANSI escape sequences (still escaped
    by the template as usual)."""
    return strip_ansi(text)
