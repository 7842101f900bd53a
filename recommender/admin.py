from django.contrib import admin, messages

from animender.runs import RunAlreadyActive

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
        queued = []
        for engine in sorted(set(queryset.values_list("engine", flat=True))):
            try:
                training_run_enqueue(engine=engine, requested_by=request.user, trigger="manual")
                queued.append(engine)
            except RunAlreadyActive as exc:
                self.message_user(request, str(exc), messages.WARNING)
        if queued:
            self.message_user(request, f"Queued: {', '.join(queued)}", messages.SUCCESS)
