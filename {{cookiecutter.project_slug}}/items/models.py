import uuid

from django.db import models


class Item(models.Model):
    """A sample model that Electric 0.12 can electrify (see electric/checks.py for the rules).

    - The primary key is a UUID made in Python: clients create rows offline, where sequential ids
      would collide, and a Python default creates no database DEFAULT (Electric refuses those).
    - Text is TextField: Electric syncs unsized varchar/text only, not varchar(N).
    - No unique or check constraints: Electric allows only primary and foreign keys.
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
