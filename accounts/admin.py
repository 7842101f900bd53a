from django.contrib import admin

from .models import ImportRun


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "user", "source", "state", "attempts", "created_at", "last_error"]
    list_filter = ["state", "source"]
    readonly_fields = [f.name for f in ImportRun._meta.fields if f.name != "upload"]
    exclude = ["upload"]  # up to an upload's size of bytes; the task reads it, not people

    @admin.display(description="Error")
    def last_error(self, run: ImportRun) -> str:
        return run.error[:120]
