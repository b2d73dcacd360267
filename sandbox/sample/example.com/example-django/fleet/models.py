from django.db import models


class MigrationRun(models.Model):
    """One row each time a counted migration runs (the counted-migration version has one)."""

    name = models.CharField(max_length=100)
    host = models.CharField(max_length=255)
    ran_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} on {self.host} @ {self.ran_at.isoformat()}"


class BeatTick(models.Model):
    """One row each time celery beat's fleet.tasks.tick runs: which host's beat sent it, which worker ran it."""

    beat_host = models.CharField(max_length=255)
    # The sending process as Celery names it, `<process>@<hostname>`: which beat, not only which host.
    origin = models.CharField(max_length=255)
    worker_host = models.CharField(max_length=255)
    sent_at = models.DateTimeField(null=True)
    ran_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"tick from {self.beat_host} run by {self.worker_host} @ {self.ran_at.isoformat()}"
