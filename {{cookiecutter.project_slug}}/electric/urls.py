from django.urls import path

from electric.views import TokenView

app_name = "electric"

urlpatterns = [
    path("token/", TokenView.as_view(), name="token"),
]
