from django.db import transaction

from work.sending import outbox_call

from ..models import Dialogue, Prompt, PromptBatch, ResponsePair


def enqueue_generation(batch_id: int) -> None:
    """Ask a worker to generate the batch's pending pairs (an outbox message, sent after this
    transaction commits). One such message waits per batch at a time: it takes every due pair."""
    from ..tasks import generate_pending_pairs

    outbox_call(generate_pending_pairs, batch_id, key=f"generate:{batch_id}")


@transaction.atomic
def pair_request(
    *,
    batch: PromptBatch,
    context: list[dict[str, str]],
    turn: int = 1,
    dialogue: Dialogue | None = None,
    prompt: Prompt | None = None,
) -> ResponsePair:
    """Create a pending pair for `context` (the messages both responses answer) and have it
    generated in the background. Follow-up turns of a dialogue are generated first."""
    pair = ResponsePair.objects.create(
        batch=batch,
        prompt=prompt,
        dialogue=dialogue,
        turn=turn,
        context=context,
        overlap=1 if dialogue else batch.overlap,
        status=ResponsePair.Status.PENDING,
    )
    enqueue_generation(batch.pk)
    return pair
