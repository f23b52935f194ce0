import uuid

from django.contrib.auth import get_user_model
from django.urls import reverse

from users.models import User


def test_the_project_uses_its_own_user_model_with_uuid_keys(db):
    assert get_user_model() is User
    user = User.objects.create_user(username="ada", password="analytical-engine")

    assert isinstance(user.pk, uuid.UUID)
    assert User.objects.get(username="ada").check_password("analytical-engine")


def test_users_are_managed_in_the_admin(admin_client, django_user_model):
    django_user_model.objects.create_user(username="grace")

    response = admin_client.get(reverse("admin:users_user_changelist"))

    assert response.status_code == 200
    assert b"grace" in response.content
