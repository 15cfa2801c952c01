"""Safe Markdown for model and user text.

markdown-it renders CommonMark with raw HTML disabled (so `<script>` stays text), then nh3
keeps only the tags and attributes below. Links keep http(s)/mailto targets and get
`rel="noopener noreferrer nofollow"`. The result is the only place Margin marks text safe.

Nothing the annotator should judge is dropped: what is not rendered is shown as its source text.
An image (`![alt](url)`) is never loaded (it could track the annotator, and the model never saw
it) and appears as its Markdown source in a `code` element; a link whose scheme is not allowed
stays the literal `[text](url)`; raw HTML is escaped.
"""

from functools import lru_cache
from urllib.parse import urlsplit

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

URL_SCHEMES = {"http", "https", "mailto"}


def _link_allowed(url: str) -> bool:
    """markdown-it leaves a link it refuses as literal text (rather than nh3 dropping its URL)."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return False
    return scheme in URL_SCHEMES or not scheme


def _image_as_source(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    title = token.attrGet("title")
    source = f"![{token.content}]({token.attrGet('src') or ''}"
    source += f' "{title}")' if title else ")"
    return f'<code class="md-source">{escapeHtml(source)}</code>'


_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    "table"
)
_md.validateLink = _link_allowed
_md.add_render_rule("image", _image_as_source)

ALLOWED_TAGS = {
    "p", "br", "hr", "pre", "code", "em", "strong", "del", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "ol": {"start"}}


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
