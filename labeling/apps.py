from django.apps import AppConfig


class LabelingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "labeling"

    def ready(self) -> None:
        # accounts sits below labeling: it announces imports and deletions through hooks.
        from animender import hooks
        from labeling.taste import runs

        hooks.hook_register(hooks.LIST_IMPORTED, runs.taste_training_after_import)
        hooks.hook_register(hooks.ACCOUNT_DELETED, runs.taste_artifacts_delete)
