"""Two views: /health for the healthcheck, /hello/<name> with locals worth looking at."""

from django.http import JsonResponse
from django.urls import path


def health(request):  # type: ignore[no-untyped-def]
    return JsonResponse({"status": "ok"})


def hello(request, name):  # type: ignore[no-untyped-def]
    greeting = f"hello {name}"  # a breakpoint here sees `name` and `greeting`
    count = len(name)
    return JsonResponse({"greeting": greeting, "count": str(count)})


urlpatterns = [path("health", health), path("hello/<str:name>", hello)]
