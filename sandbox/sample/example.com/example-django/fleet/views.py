import socket
import time

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from example.celery import app
from example.version import VERSION

from .tasks import hostname


def _text(body, status=200):
    return HttpResponse(body + "\n", content_type="text/plain; charset=utf-8", status=status)


@require_safe
def whoami(request):
    """Which host answered, and with which version (behind a load balancer)."""
    return _text(f"host={socket.gethostname()} version={VERSION}")


@require_safe
def wait(request):
    """Answers after 100 ms of waiting (I/O, no CPU): what several hosts add when the cores are not the limit."""
    time.sleep(0.1)
    return _text(f"host={socket.gethostname()} waited 100 ms")


@require_safe
def whoami_celery(request):
    """A round trip through the broker: the host that answered, and the host whose worker ran the task."""
    result = hostname.delay()
    try:
        worker = result.get(timeout=10)
    except Exception as exc:  # noqa: BLE001 - shown to the caller, who is a test
        return _text(f"celery error: {type(exc).__name__}: {exc}", status=503)
    return _text(f"web={socket.gethostname()} worker={worker}")


@require_safe
def workers(request):
    """The Celery workers that answer a ping through the broker (every host runs one)."""
    replies = app.control.ping(timeout=2.0)
    return JsonResponse({"workers": sorted(name for reply in replies for name in reply)})
