from django.contrib import admin

from changefeed.models import ChangeEvent, Checkpoint, SnapshotProgress


@admin.register(ChangeEvent)
class ChangeEventAdmin(admin.ModelAdmin):
    list_display = ["id", "commit_time", "table_name", "operation", "primary_key"]
    list_filter = ["table_name", "operation"]

    # The event store is append-only history.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ["slot", "lsn", "updated_at"]


@admin.register(SnapshotProgress)
class SnapshotProgressAdmin(admin.ModelAdmin):
    list_display = ["slot", "table_name", "generation", "rows", "done", "updated_at"]
