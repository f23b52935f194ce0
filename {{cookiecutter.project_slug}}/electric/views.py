from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from electric.tokens import issue_token


# csrf_exempt: the view serves GET only, which changes nothing; without it, Django's CSRF check
# would answer a POST with an HTML 403 before the view could give its JSON 405.
@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class TokenView(View):
    """The signed-in user's Electric token: {"token": ..., "expires_at": ...}.

    Called by scripts, not people, so every answer is JSON: a 401 rather than a redirect to an
    HTML login page, and a JSON 405 for anything but GET.
    """

    http_method_names = ["get"]

    def get(self, request):
        if not request.user.is_authenticated:
            return JsonResponse({"error": "Sign in to get an Electric token."}, status=401)
        token, expires_at = issue_token(request.user)
        return JsonResponse({"token": token, "expires_at": expires_at})

    def http_method_not_allowed(self, request, *args, **kwargs):
        # Django's answer logs the refusal and lists the allowed methods; keep both, in JSON.
        refused = super().http_method_not_allowed(request, *args, **kwargs)
        return JsonResponse(
            {"error": f"{request.method} is not allowed here; use GET."},
            status=refused.status_code,
            headers={"Allow": refused["Allow"]},
        )
