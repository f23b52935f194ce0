import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The project's user, from the first migration on, as Django's documentation advises: a
    custom user model is easy to change now and painful to introduce later.

    The key is a UUID, like the electrified models': it is the `sub` of Electric's tokens, and no
    sequence reveals how many users there are.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
