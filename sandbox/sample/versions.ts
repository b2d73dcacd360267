/**
 * The sample's versions (see repos.ts): good ones, and ones that break a release in one way each —
 * the files each writes for its own commit only (the next version starts from the good files again).
 */

export interface SampleVersion {
  /** Tag name on the parent and on example-django. */
  tag: string;
  /** What /version shows: `example.com version ${version}`. */
  version: string;
  /** Whether requirements.txt differs from the previous version's. */
  requirementsChanged: boolean;
  /**
   * A broken version: files (relative to example-django) written for this commit only; the next
   * version starts from the good files again. Each breaks a release in one of the ways a deploy
   * must survive.
   */
  breaks?: Record<string, string>;
}

const SYNTAX_ERROR = "\n\ndef broken(:\n    pass\n";
const WSGI_RAISES = `"""WSGI entry point that fails at import: the release cannot serve (a health check must catch it)."""
raise RuntimeError("this release's wsgi.py raises at import")
`;
const FAILING_MIGRATION = `from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("this release's migration fails")


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]
    operations = [migrations.RunPython(fail, migrations.RunPython.noop)]
`;

/** The destructive migration: Note loses its body column (the model, the fixture and the template follow). */
const NOTE_WITHOUT_BODY = `from django.db import models


class Note(models.Model):
    """A short text; the quickstart fixture loads a few. (This version dropped the body.)"""

    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.title


class Heartbeat(models.Model):
    """Updated by the beat-scheduled task notes.tasks.heartbeat (one row per name)."""

    name = models.CharField(max_length=50, unique=True)
    beat_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.name} @ {self.beat_at.isoformat()} (#{self.count})"
`;
const DROP_BODY = `from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]
    operations = [migrations.RemoveField(model_name="note", name="body")]
`;
const QUICKSTART_WITHOUT_BODY = `[
  {"model": "notes.note", "pk": 1, "fields": {"title": "Welcome to example.com", "created_at": "2024-01-01T00:00:00Z"}},
  {"model": "notes.note", "pk": 2, "fields": {"title": "Deployed with django-deploy", "created_at": "2024-01-02T00:00:00Z"}}
]
`;

/** The file whose presence on a host makes the unhealthy-marked version's /healthz answer 503 there. */
export const UNHEALTHY_MARKER = "/etc/django-deploy-test/unhealthy";

/** A migration that records each run in fleet_migrationrun (name, host, time): a fleet must run it once. */
const COUNTED_MIGRATION = `import socket
import time

from django.db import migrations
from django.utils import timezone


def count(apps, schema_editor):
    apps.get_model("fleet", "MigrationRun").objects.create(name="counted-migration", host=socket.gethostname(), ran_at=timezone.now())
    # A second it holds its transaction: a migrate run beside it on another host would run it too.
    time.sleep(1)


class Migration(migrations.Migration):
    dependencies = [("fleet", "0001_initial")]
    operations = [migrations.RunPython(count, migrations.RunPython.noop)]
`;

export const SAMPLE_VERSIONS: readonly SampleVersion[] = [
  { tag: "v1", version: "v1", requirementsChanged: false },
  { tag: "v2", version: "v2", requirementsChanged: false },
  { tag: "v3", version: "v3", requirementsChanged: true },
  { tag: "v4", version: "v4", requirementsChanged: false },
  // notes/views.py does not compile: release tasks (Django's checks) fail before anything switches.
  { tag: "broken-syntax", version: "broken-syntax", requirementsChanged: false, breaks: { "notes/views.py": "APPEND:" + SYNTAX_ERROR } },
  // wsgi.py raises at import: release tasks pass (they never import it), Gunicorn cannot boot.
  { tag: "broken-wsgi", version: "broken-wsgi", requirementsChanged: false, breaks: { "example/wsgi.py": WSGI_RAISES } },
  // A migration that fails: migrate stops before the switch.
  { tag: "broken-migration", version: "broken-migration", requirementsChanged: false, breaks: { "notes/migrations/0002_fail.py": FAILING_MIGRATION } },
  // Boots and routes, but its health view says it is not healthy (for healthCheckPath: /healthz).
  {
    tag: "unhealthy",
    version: "unhealthy",
    requirementsChanged: false,
    breaks: { "notes/views.py": "REPLACE:" + 'return _text("ok")' + "=>" + 'return _text("not ready", status=503)' },
  },
  // A destructive migration (drops Note.body): deploys fine, and only the backup taken before it
  // (database: host) brings the dropped data back.
  {
    tag: "destructive-migration",
    version: "destructive-migration",
    requirementsChanged: false,
    breaks: {
      "notes/models.py": NOTE_WITHOUT_BODY,
      "notes/migrations/0002_remove_note_body.py": DROP_BODY,
      "notes/fixtures/quickstart.json": QUICKSTART_WITHOUT_BODY,
      "notes/templates/notes/list.html": "REPLACE: {{ note.body }}=>",
    },
  },
  // Runs, but its settings fail `manage.py check --deploy --fail-level WARNING` (security.W012).
  {
    tag: "check-warning",
    version: "check-warning",
    requirementsChanged: false,
    breaks: { "example/settings.py": "APPEND:\n# Insecure on purpose: check --deploy warns (security.W012).\nSESSION_COOKIE_SECURE = False\n" },
  },
  // A migration that counts its runs (fleet_migrationrun): on a fleet it must run once, on one host.
  {
    tag: "counted-migration",
    version: "counted-migration",
    requirementsChanged: false,
    breaks: { "fleet/migrations/0002_counted.py": COUNTED_MIGRATION },
  },
  // Healthy except on a host where UNHEALTHY_MARKER exists: there its /healthz answers 503.
  {
    tag: "unhealthy-marked",
    version: "unhealthy-marked",
    requirementsChanged: false,
    breaks: {
      "notes/views.py":
        "REPLACE:" +
        'return _text("ok")' +
        "=>" +
        `return _text("marked unhealthy", status=503) if os.path.exists(${JSON.stringify(UNHEALTHY_MARKER)}) else _text("ok")`,
    },
  },
];
