"""Workspace test helpers on top of tests/annotation/factories.py."""

from annotation.models import ResponsePair

from ..factories import ResponseFactory


def pair_make_ready(pair: ResponsePair, *, texts: tuple[str, str] | None = None) -> ResponsePair:
    """Do what the generation worker does when it finishes a pending pair."""
    a_text, b_text = texts or (f"Reply A to turn {pair.turn}.", f"Reply B to turn {pair.turn}.")
    pair.response_a = ResponseFactory(text=a_text)
    pair.response_b = ResponseFactory(text=b_text)
    pair.status = ResponsePair.Status.READY
    pair.save(update_fields=["response_a", "response_b", "status"])
    return pair
