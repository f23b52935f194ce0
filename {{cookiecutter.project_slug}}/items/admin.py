from django.contrib import admin

from items.models import Item


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["title", "done", "created_at", "updated_at"]
    list_filter = ["done"]
    search_fields = ["title", "notes"]
