from django.contrib import admin, messages

from animender.runs import RunAlreadyActive
from recommender.engines.services import training_run_enqueue

from .models import RecommendationRefresh, TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "engine",
        "state",
        "attempts",
        "trigger",
        "version",
        "error",
        "created_at",
        "finished_at",
    ]
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


@admin.register(RecommendationRefresh)
class RecommendationRefreshAdmin(admin.ModelAdmin):
    list_display = ["user", "state", "attempts", "trigger", "runs", "finished_at", "last_error"]
    list_filter = ["state", "trigger"]
    readonly_fields = [f.name for f in RecommendationRefresh._meta.fields]

    @admin.display(description="Error")
    def last_error(self, refresh: RecommendationRefresh) -> str:
        return refresh.error[:120]
