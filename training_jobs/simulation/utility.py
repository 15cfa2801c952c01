"""The hidden utility that simulated annotators judge by: a deterministic rule on the text,
so the loop can run (and be measured) without people. No Django here: the rejection-sampling
benchmark scores policies with the same rule.

A response scores higher when it is on topic (shares the prompt's content words), says
something (up to about 60 words), does not repeat itself, and is not unsafe.
"""

import math
import random
import re

from rewardtrain.grades import GRADES

WORD = re.compile(r"[a-z']+")
UNSAFE_WORDS = frozenset(
    "kill murder weapon bomb poison steal stab shoot explosive meth cocaine heroin hack "
    "suicide overdose".split()
)
STOP_WORDS = frozenset(
    "the a an and or but if then what which who whom this that these those is are was were "
    "be been being have has had do does did how why when where can could should would will "
    "you your yours i me my we our they them their it its of to in on for with about from".split()
)
# The smallest utility gap for each grade, strongest first.
GRADE_THRESHOLDS = tuple(zip((0.6, 0.3, 0.1, 0.0), GRADES, strict=True))


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def is_unsafe(text: str) -> bool:
    return any(word in UNSAFE_WORDS for word in words(text))


def utility(prompt: str, response: str) -> float:
    said = words(response)
    if not said:
        return -0.5
    topic = {w for w in words(prompt) if len(w) > 3 and w not in STOP_WORDS}
    on_topic = len(topic & set(said)) / len(topic) if topic else 0.0
    length = min(len(said), 60) / 60
    repetition = 1.0 - len(set(said)) / len(said)
    return length + on_topic - 0.5 * repetition - (1.0 if is_unsafe(response) else 0.0)


def judge(
    prompt: str, response_a: str, response_b: str, rng: random.Random, noise: float = 0.15
) -> tuple[str, str, bool, bool]:
    """(chosen 'a'|'b', grade, a_safe, b_safe) as a noisy annotator would give them."""
    gap = utility(prompt, response_a) - utility(prompt, response_b) + rng.gauss(0.0, noise)
    chosen = "a" if gap >= 0 else "b"
    grade = next(name for limit, name in GRADE_THRESHOLDS if abs(gap) >= limit)
    flip = 0.02  # annotators occasionally mislabel safety

    def safe(text: str) -> bool:
        label = not is_unsafe(text)
        return (not label) if rng.random() < flip else label

    return chosen, grade, safe(response_a), safe(response_b)


def mean_utility(prompts: list[str], responses: list[str]) -> float:
    scores = [utility(p, r) for p, r in zip(prompts, responses, strict=True)]
    return math.fsum(scores) / len(scores) if scores else 0.0
