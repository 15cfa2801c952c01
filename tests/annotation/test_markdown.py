"""What the annotator reads is what the model saw: nothing in a prompt or response is dropped."""

import re

import pytest

from annotation.markdown import render_markdown


def visible_text(html: str) -> str:
    """The text a browser shows (tags removed, the few entities the renderer writes decoded)."""
    text = re.sub(r"<[^>]+>", "", html)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


@pytest.mark.parametrize(
    "source",
    [
        "![pic](https://example.com/cat.png)",
        '![a *styled* alt](https://example.com/x.png "the title")',
        "![](data:image/png;base64,AAAA)",
        "[a file](ftp://example.com/file.txt)",
        "[click](javascript:alert(1))",
        "<img src=x onerror=alert(1)>",
        "<b>bold?</b>",
    ],
)
def test_what_cannot_be_rendered_is_shown_as_its_source(source):
    html = render_markdown(f"Before {source} after")
    assert source in visible_text(html)
    assert "<img" not in html and "<b>" not in html and 'href="javascript' not in html


def test_an_image_is_never_loaded_but_its_source_is_in_a_code_element():
    html = render_markdown("Describe ![pic](https://example.com/cat.png) please")
    assert '<code class="md-source">![pic](https://example.com/cat.png)</code>' in html


def test_allowed_links_and_formatting_still_render():
    html = render_markdown("**bold** [site](https://example.com) [page](/local) `x`")
    assert "<strong>bold</strong>" in html and "<code>x</code>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">site</a>' in html
    assert 'href="/local"' in html


def test_an_image_inside_a_link_keeps_both():
    html = render_markdown("[![logo](https://example.com/l.png)](https://example.com)")
    assert 'href="https://example.com"' in html and "![logo](https://example.com/l.png)" in html
