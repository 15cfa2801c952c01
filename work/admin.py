from django.contrib import admin

from .models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "state", "attempts", "sends", "created_at", "finished_at"]
    list_filter = ["state", "task", "queue"]
    search_fields = ["task", "key", "error"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
