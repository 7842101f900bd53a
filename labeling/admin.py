from django.contrib import admin

from .models import Label, TasteTrainingRun


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["pk", "user", "anime", "answer", "reason", "created_at"]
    list_filter = ["answer", "reason"]
    raw_id_fields = ["user", "anime"]


@admin.register(TasteTrainingRun)
class TasteTrainingRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "user", "status", "trigger", "n_labels", "ap", "created_at"]
    list_filter = ["status", "trigger"]
    readonly_fields = [f.name for f in TasteTrainingRun._meta.fields]

    @admin.display(description="AP")
    def ap(self, run: TasteTrainingRun) -> str:
        ap = run.average_precision
        return f"{ap:.3f}" if ap is not None else "–"
