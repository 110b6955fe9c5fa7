"""The operator endpoints, outside any organization: /healthz (public, no organization data) and
/metrics (only with the bearer token in POSTROOM_METRICS_TOKEN; 404 while it is unset)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from postroom.operations import health, metrics


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, document = health.report()
    return JsonResponse(document, status=200 if healthy else 503)


@never_cache
@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.POSTROOM_METRICS_TOKEN
    if not expected:
        raise Http404("metrics are off: set POSTROOM_METRICS_TOKEN")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        response = HttpResponse("a valid bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")
