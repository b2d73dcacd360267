import datetime
import socket

from celery import shared_task
from django.utils import timezone


def _sender_host(request):
    """The host that sent a task message: its `origin` header is `<process>@<hostname>`."""
    return (request.origin or "").rpartition("@")[2]


@shared_task(bind=True)
def tick(self):
    """Scheduled every 2 s by celery beat (example/celery.py): records which host's beat sent it."""
    from .models import BeatTick

    sent = getattr(self.request, "sent_at", None)
    BeatTick.objects.create(
        beat_host=_sender_host(self.request),
        worker_host=socket.gethostname(),
        sent_at=datetime.datetime.fromtimestamp(sent, datetime.timezone.utc) if sent else None,
        ran_at=timezone.now(),
    )


@shared_task
def hostname():
    """Where a task ran: /whoami/celery shows it."""
    return socket.gethostname()
