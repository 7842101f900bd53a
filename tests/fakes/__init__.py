"""Local fakes of external services (MyAnimeList), shared by the tests and bench/."""
