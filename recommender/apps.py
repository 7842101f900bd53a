from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender"

    def ready(self) -> None:
        # A member's stored recommendations sit above everything they are made from: lists
        # (accounts), labels and taste models (labeling), engines. Those announce changes
        # through hooks, never by importing recommender.personal.
        from animender import hooks
        from recommender.personal import services as personal

        hooks.hook_register(hooks.MEMBER_INPUTS_CHANGED, personal.recommendations_refresh_request)
        hooks.hook_register(hooks.ENGINE_PUBLISHED, personal.recommendations_refresh_after_publish)
