from django.contrib import admin

from .models import Label, TasteTrainingRun


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["pk", "user", "anime", "answer", "reason", "created_at"]
    list_filter = ["answer", "reason"]
    raw_id_fields = ["user", "anime"]


@admin.register(TasteTrainingRun)
class TasteTrainingRunAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "user",
        "state",
        "attempts",
        "trigger",
        "n_labels",
        "ap",
        "created_at",
        "last_error",
    ]
    list_filter = ["state", "trigger"]
    readonly_fields = [f.name for f in TasteTrainingRun._meta.fields]

    @admin.display(description="AP")
    def ap(self, run: TasteTrainingRun) -> str:
        ap = run.average_precision
        return f"{ap:.3f}" if ap is not None else "–"

    @admin.display(description="Error")
    def last_error(self, run: TasteTrainingRun) -> str:
        return run.error[:120]
