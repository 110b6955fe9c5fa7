from django.urls import include, path

urlpatterns = [
    path("api/", include("postroom.api.urls")),
    path("", include("postroom.operations.urls")),  # /healthz and /metrics, for operators
    path("", include("postroom.web.urls")),
]
