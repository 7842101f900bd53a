"""What every run kind's API output says about its attempts (:mod:`animender.runs`)."""

from __future__ import annotations

from rest_framework import serializers

from animender.runs import RunKind


class RunAttemptsOutput(serializers.Serializer):
    """Mixed into a run's output serializer; the subclass names its ``run_kind``."""

    run_kind: RunKind

    attempts = serializers.IntegerField(read_only=True, help_text="Workers that claimed it.")
    max_attempts = serializers.SerializerMethodField(
        help_text="Attempts a run gets before a lost worker fails it for good."
    )

    def get_max_attempts(self, run) -> int:
        return self.run_kind.max_attempts()
