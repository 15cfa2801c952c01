"""Safe Markdown for model and user text.

markdown-it renders CommonMark with raw HTML disabled (so `<script>` stays text), then nh3
keeps only the tags and attributes below. Links keep http(s)/mailto targets and get
`rel="noopener noreferrer nofollow"`. The result is the only place Margin marks text safe.
"""

from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    "table"
)

ALLOWED_TAGS = {
    "p", "br", "hr", "pre", "code", "em", "strong", "del", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=4096)
def _render(text: str) -> str:
    html = _md.render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(text: str | None) -> SafeString:
    """Markdown → sanitised HTML. Raw HTML in `text` is escaped, never interpreted."""
    return mark_safe(_render(text or ""))  # noqa: S308 - sanitised by nh3 just above
