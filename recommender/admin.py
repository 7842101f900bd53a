from django.contrib import admin, messages

from .models import TrainingRun
from .services import training_run_enqueue


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "engine", "state", "trigger", "version", "created_at", "finished_at"]
    list_filter = ["engine", "state"]
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
    actions = ["retrain"]

    @admin.action(description="Retrain these engines now")
    def retrain(self, request, queryset):
        engines = sorted(set(queryset.values_list("engine", flat=True)))
        for engine in engines:
            training_run_enqueue(engine=engine, requested_by=request.user, trigger="manual")
        self.message_user(request, f"Queued: {', '.join(engines)}", messages.SUCCESS)
