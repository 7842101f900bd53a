"""factory_boy factories for catalog rows built directly (no CSV, no MAL)."""

from __future__ import annotations

import factory

from catalog.models import Anime, Genre, Studio
from catalog.records import search_text_of


class GenreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Genre
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Genre {n}")


class StudioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Studio
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Studio {n}")


class AnimeFactory(factory.django.DjangoModelFactory):
    """A plausible title; ``genres=[...]``/``studios=[...]`` take names."""

    class Meta:
        model = Anime
        skip_postgeneration_save = True

    mal_id = factory.Sequence(lambda n: 100_000 + n)
    title = factory.Faker("sentence", nb_words=3)
    title_english = ""
    title_japanese = ""
    synonyms = factory.LazyFunction(list)
    synopsis = factory.Faker("paragraph")
    media_type = Anime.MediaType.TV
    status = Anime.Status.FINISHED
    num_episodes = 12
    start_season = Anime.Season.SPRING
    start_year = 2010
    mean = 7.0
    popularity = None
    picture_medium = ""
    picture_large = ""
    # The importer and the sync write it with the same function.
    search_text = factory.LazyAttribute(
        lambda o: search_text_of([o.title, o.title_english, o.title_japanese, *o.synonyms])
    )

    @factory.post_generation
    def genres(self, create: bool, names: list[str] | None, **kwargs) -> None:
        if create and names:
            self.genres.set([GenreFactory(name=n) for n in names])

    @factory.post_generation
    def studios(self, create: bool, names: list[str] | None, **kwargs) -> None:
        if create and names:
            self.studios.set([StudioFactory(name=n) for n in names])
