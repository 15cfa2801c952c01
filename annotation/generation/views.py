from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from .. import roles
from ..models import ResponsePair
from . import selectors
from .requests import enqueue_generation


@require_GET
@vary_on_headers("HX-Request")
@roles.role_required(roles.is_admin)
def generation_status(request):
    """Stock, throughput and errors of the model server, refreshed live."""
    context = {
        "stocks": selectors.stock_by_batch(),
        "throughput": selectors.throughput_by_variant(),
        "failures": selectors.recent_failures(),
    }
    template = "generation/status.html"
    if request.htmx:
        template += "#status"
    return render(request, template, context)


@require_POST
@roles.role_required(roles.is_admin)
def generation_retry(request, pair_id: int):
    pair = get_object_or_404(ResponsePair, pk=pair_id, status=ResponsePair.Status.FAILED)
    ResponsePair.objects.filter(pk=pair.pk).update(next_attempt_at=timezone.now())
    enqueue_generation(pair.batch_id)
    return redirect("generation-status")
