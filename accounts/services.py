"""Writes of members' profiles, list entries, API tokens and accounts.

Services validate (``ValidationError`` whose keys name the field) and write; views, API,
tasks and tests call them. Everything takes the acting ``user`` and touches only that
member's rows.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from animender import hooks
from animender.errors import Conflict
from animender.hooks import hook_fire
from catalog.models import Anime

from .models import ApiToken, ListEntry, Profile
from .selectors import api_token_hash

UNSET: Any = object()
STATUS_VALUES = tuple(ListEntry.Status.values)
PROFILE_FIELDS = (
    "mal_username",
    "show_adult",
    "title_language",
    "list_private",
    "labels_from_list",
)
# Tokens are not touched more than once a minute: a script's every request is not a write.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


# -- profile ------------------------------------------------------------------------------


def profile_get_or_create(*, user) -> Profile:
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


def profile_update(*, user, **changes) -> Profile:
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError({k: ["Unknown profile field."] for k in sorted(unknown)})
    profile = profile_get_or_create(user=user)
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.full_clean(exclude=["user"])
    profile.save()
    return profile


# -- list entries -------------------------------------------------------------------------


def _list_changed(user) -> None:
    """Every list write ends here: the member's stored recommendations refresh in the
    background (debounced, so a burst of edits is one refresh)."""
    hook_fire(hooks.MEMBER_INPUTS_CHANGED, user_id=user.pk, trigger="list")


def _validated(
    *,
    status: str,
    score: int | None,
    episodes_watched: int,
    not_interested: bool,
    num_episodes: int | None,
    stored_episodes: int | None = None,
) -> dict:
    """The one check of a list entry's values, for pages, API and cards alike.

    ``num_episodes`` is the title's count (None or 0 while unknown, e.g. airing: then any
    count is accepted). ``stored_episodes`` is the entry's current count: kept as it is, it
    is not re-checked, so a count stored before the catalog lowered its number does not
    block changing the score.
    """
    errors: dict[str, list[str]] = {}
    if status not in ("", *STATUS_VALUES):
        errors["status"] = [
            f"Unknown status {status!r}; use one of: {', '.join(STATUS_VALUES)} (or empty)."
        ]
    if score is not None and (isinstance(score, bool) or not isinstance(score, int)):
        errors["score"] = ["Score must be a whole number from 1 to 10, or empty."]
    elif score is not None and not 1 <= score <= 10:
        errors["score"] = [f"Score {score} is out of range: use 1 to 10, or empty for none."]
    if isinstance(episodes_watched, bool) or not isinstance(episodes_watched, int):
        errors["episodes_watched"] = ["Episodes watched must be a whole number."]
    elif episodes_watched < 0:
        errors["episodes_watched"] = ["Episodes watched cannot be negative."]
    elif num_episodes and episodes_watched > num_episodes and episodes_watched != stored_episodes:
        errors["episodes_watched"] = [
            f"Episodes watched ({episodes_watched}) cannot exceed the title's "
            f"{num_episodes} episodes."
        ]
    if not errors and not status and not not_interested:
        errors["status"] = ["Choose a status (or mark the title not interested)."]
    if errors:
        raise ValidationError(errors)
    return dict(
        status=status,
        score=score,
        episodes_watched=episodes_watched,
        not_interested=bool(not_interested),
    )


def _anime(mal_id: int) -> Anime:
    anime = Anime.objects.filter(mal_id=mal_id).first()
    if anime is None:
        raise ValidationError({"mal_id": [f"No anime with MAL id {mal_id} in the catalog."]})
    return anime


def list_entry_create(
    *,
    user,
    mal_id: int,
    status: str = "",
    score: int | None = None,
    episodes_watched: int = 0,
    not_interested: bool = False,
) -> ListEntry:
    anime = _anime(mal_id)
    values = _validated(
        status=status,
        score=score,
        episodes_watched=episodes_watched,
        not_interested=not_interested,
        num_episodes=anime.num_episodes,
    )
    try:
        with transaction.atomic():
            entry = ListEntry.objects.create(user=user, anime=anime, **values)
    except IntegrityError:
        raise Conflict(
            f"MAL id {mal_id} is already on your list; update it instead.",
            code="duplicate_entry",
        ) from None
    _list_changed(user)
    return entry


def list_entry_update(*, user, mal_id: int, **changes) -> ListEntry:
    """Change some fields of an existing entry (``ValidationError`` leaves it as it was)."""
    entry = ListEntry.objects.filter(user=user, anime_id=mal_id).select_related("anime").first()
    if entry is None:
        raise ListEntry.DoesNotExist(f"MAL id {mal_id} is not on your list.")
    current = dict(
        status=entry.status,
        score=entry.score,
        episodes_watched=entry.episodes_watched,
        not_interested=entry.not_interested,
    )
    values = _validated(
        **{**current, **changes},
        num_episodes=entry.anime.num_episodes,
        stored_episodes=entry.episodes_watched,
    )
    for name, value in values.items():
        setattr(entry, name, value)
    entry.save()
    _list_changed(user)
    return entry


def list_entry_set(
    *,
    user,
    mal_id: int,
    status: str = "",
    score: int | None = None,
    not_interested: bool = False,
    episodes_watched: Any = UNSET,
    remove: bool = False,
) -> ListEntry | None:
    """The title page's controls: create, change, or (nothing left set) remove the entry.

    ``remove`` is the controls' "Remove from list": the title leaves the list whatever
    score and episodes the form still carries (they are the entry being removed). Only a
    "not interested" mark the member kept stays, as a row without status.
    """
    existing = ListEntry.objects.filter(user=user, anime_id=mal_id).first()
    if remove:
        status, score, episodes_watched = "", None, 0
    if episodes_watched is UNSET:
        episodes_watched = existing.episodes_watched if existing else 0
    if not status and score is None and not not_interested:
        if existing:
            existing.delete()
            _list_changed(user)
        return None
    if not status and score is not None and not not_interested:
        # A score alone means the member has seen it.
        status = ListEntry.Status.COMPLETED
    anime = _anime(mal_id)
    values = _validated(
        status=status,
        score=score,
        episodes_watched=episodes_watched,
        not_interested=not_interested,
        num_episodes=anime.num_episodes,
        stored_episodes=existing.episodes_watched if existing else None,
    )
    if status == ListEntry.Status.COMPLETED and not episodes_watched and anime.num_episodes:
        values["episodes_watched"] = anime.num_episodes  # as MAL does on "completed"
    entry, _ = ListEntry.objects.update_or_create(user=user, anime=anime, defaults=values)
    _list_changed(user)
    return entry


def list_entry_delete(*, user, mal_id: int) -> bool:
    deleted, _ = ListEntry.objects.filter(user=user, anime_id=mal_id).delete()
    if deleted:
        _list_changed(user)
    return bool(deleted)


# -- API tokens ---------------------------------------------------------------------------


def api_token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """A new token and its key; the key is never stored nor shown again."""
    name = (name or "").strip() or f"token {timezone.now():%Y-%m-%d %H:%M}"
    if len(name) > 64:
        raise ValidationError({"name": ["Use at most 64 characters."]})
    key = "anm_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[:12], key_hash=api_token_hash(key)
    )
    return token, key


def api_token_revoke(*, user, token_id: int) -> bool:
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)


def api_token_touch(*, token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


# -- account ------------------------------------------------------------------------------


@transaction.atomic
def account_delete(*, user, password: str) -> None:
    """Delete the member and every personal row: the list, labels, imports, tokens, profile
    (foreign keys cascade from the user), after checking the password."""
    if not password or not user.check_password(password):
        raise ValidationError({"password": ["The password is not correct."]})
    user_id = user.pk
    user.delete()
    # The rows went by cascade; the member's files (taste models) go once that is committed.
    transaction.on_commit(lambda: hook_fire(hooks.ACCOUNT_DELETED, user_id=user_id))
