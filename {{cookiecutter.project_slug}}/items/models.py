import uuid

from django.db import models


class Item(models.Model):
    """A sample model that Electric 0.12 can electrify (see electric/rules.py for the rules).

    - The primary key is a UUID made in Python: clients create rows offline, where sequential ids
      would collide. A Python default= in the migration that creates the table (CreateModel)
      makes no database DEFAULT, which Electric refuses; added later (AddField), it does.
    - Text is TextField: Electric syncs unsized varchar/text only, not varchar(N).
    - No unique or check constraints: Electric allows only primary and foreign keys.

    Electrified by migrations/0002_electrify_items.py: from then on only nullable, default-less
    new fields and indexes (see "Changing an electrified model" in docs/electric.md).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.TextField()
    notes = models.TextField(blank=True)
    done = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "items"
        ordering = ["created_at"]

    def __str__(self):
        return self.title
