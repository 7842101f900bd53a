"""Forms of the member pages. Range and status rules live in the services; these only
convert browser input."""

from __future__ import annotations

from django import forms

from .models import ListEntry, Profile
from .selectors import NOT_INTERESTED_TAB, ListSort

SCORE_LABELS = {
    10: "Masterpiece",
    9: "Great",
    8: "Very good",
    7: "Good",
    6: "Fine",
    5: "Average",
    4: "Bad",
    3: "Very bad",
    2: "Horrible",
    1: "Appalling",
}


class _NoSuffix:
    """Labels without Django's trailing colon (they sit beside checkboxes too)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


# The controls' "Remove from list" choice: its own value, not "", because the score and
# episodes still selected beside it must not turn the removal into a "completed" save.
LIST_REMOVE = "remove"


class ListEntryForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            ("", "Not on my list"),
            (LIST_REMOVE, "Remove from list"),
            *ListEntry.Status.choices,
        ],
        required=False,
    )
    score = forms.TypedChoiceField(
        choices=[("", "No score"), *((s, f"{s} · {SCORE_LABELS[s]}") for s in range(10, 0, -1))],
        coerce=int,
        empty_value=None,
        required=False,
    )
    episodes_watched = forms.IntegerField(min_value=0, required=False)
    not_interested = forms.BooleanField(required=False)


class ListFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "All"), *ListEntry.Status.choices, (NOT_INTERESTED_TAB, "Not interested")],
        required=False,
    )
    q = forms.CharField(required=False, max_length=100)
    genre = forms.CharField(required=False, max_length=100)
    sort = forms.ChoiceField(choices=ListSort.CHOICES, required=False)
    page = forms.IntegerField(min_value=1, required=False)


class ProfileForm(_NoSuffix, forms.ModelForm):
    class Meta:
        model = Profile
        fields = [
            "mal_username",
            "title_language",
            "show_adult",
            "list_private",
            "labels_from_list",
        ]
        labels = {
            "mal_username": "MyAnimeList user name",
            "title_language": "Show titles in",
            "show_adult": "Show adult (18+) titles",
            "list_private": "Keep my list private",
            "labels_from_list": "Teach my taste model from my list scores",
        }


class MalImportForm(_NoSuffix, forms.Form):
    mal_username = forms.CharField(label="MyAnimeList user name", max_length=32)


class XmlImportForm(_NoSuffix, forms.Form):
    file = forms.FileField(label="MAL export file (.xml or .xml.gz)")


class TokenCreateForm(_NoSuffix, forms.Form):
    name = forms.CharField(max_length=64, required=False, label="Token name")


class AccountDeleteForm(_NoSuffix, forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, label="Your password")
    confirm = forms.BooleanField(
        label="I understand this deletes my list, labels, models and tokens"
    )
