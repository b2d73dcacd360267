import datetime
import socket

from celery import shared_task
from django.utils import timezone


@shared_task(bind=True)
def tick(self):
    """Scheduled every 2 s by celery beat (example/celery.py): records which host's beat sent it."""
    from .models import BeatTick

    sent = getattr(self.request, "sent_at", None)
    origin = self.request.origin or ""  # `<process>@<hostname>` of the beat that sent it
    BeatTick.objects.create(
        beat_host=origin.rpartition("@")[2],
        origin=origin,
        worker_host=socket.gethostname(),
        sent_at=datetime.datetime.fromtimestamp(sent, datetime.timezone.utc) if sent else None,
        ran_at=timezone.now(),
    )


@shared_task
def hostname():
    """Where a task ran: /whoami/celery shows it."""
    return socket.gethostname()
