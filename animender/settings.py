"""Animender settings: every value comes from the environment, with a safe local default.

Local default: SQLite file, Celery tasks run in-process, DEBUG on. ``ANIMENDER_ENV=production``
removes the defaults for the secret key, database, broker and allowed hosts, so a missing
one stops startup instead of silently running on a toy configuration.
"""

from __future__ import annotations

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

_BOOLS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
    "": False,
}


def env_bool(name: str, default: bool) -> bool:
    """Strict boolean: a typo such as DEBUG=ture fails loudly instead of meaning False."""
    raw = env.str(name, default=str(default)).strip().lower()
    if raw not in _BOOLS:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0).")
    return _BOOLS[raw]


RUN_KINDS = ("sync", "training", "evaluation", "taste", "import", "refresh")


def env_kind_numbers(name: str, cast: type) -> dict[str, float | int]:
    """``"import=1800,taste=600"`` -> ``{"import": 1800, "taste": 600}``; an unknown kind or
    a value that is not a number fails loudly at startup."""
    out = {}
    for part in filter(None, (p.strip() for p in env.str(name, default="").split(","))):
        kind, _, value = part.partition("=")
        kind = kind.strip()
        if kind not in RUN_KINDS:
            raise ImproperlyConfigured(f"{name}: unknown run kind {kind!r} (one of {RUN_KINDS}).")
        try:
            out[kind] = cast(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {part!r} is not kind=number.") from None
    return out


ANIMENDER_ENV = env.str("ANIMENDER_ENV", default="local")
if ANIMENDER_ENV not in {"local", "production"}:
    raise ImproperlyConfigured("ANIMENDER_ENV must be 'local' or 'production'.")
PRODUCTION = ANIMENDER_ENV == "production"


def required(name: str, local_default: str) -> str:
    """A value production must set explicitly; local runs get ``local_default``."""
    if PRODUCTION:
        value = env.str(name, default="")
        if not value:
            raise ImproperlyConfigured(f"{name} must be set when ANIMENDER_ENV=production.")
        return value
    return env.str(name, default=local_default)


SECRET_KEY = required("SECRET_KEY", "django-insecure-local-only-never-use-in-production")
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = [
    h.strip()
    for h in required("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",  # search lookups on PostgreSQL; inert on SQLite
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "accounts",
    "catalog",
    "labeling",
    "recommender",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last, so its process_exception sees view errors first: the site's 404/500 pages.
    "animender.error_pages.ErrorPagesMiddleware",
]

ROOT_URLCONF = "animender.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "animender.wsgi.application"

# No DATABASE_URL -> a SQLite file under var/; postgres://... -> PostgreSQL through psycopg 3.
VAR_DIR = Path(env.str("ANIMENDER_VAR_DIR", default=str(BASE_DIR / "var")))
DATABASES = {
    "default": environ.Env.db_url_config(
        required("DATABASE_URL", f"sqlite:///{VAR_DIR / 'animender.sqlite3'}")
    )
}
if not PRODUCTION:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent page reads while a sync writes: WAL avoids "database is locked", and a
    # writer waits up to 30 s for another (a worker thread, a heartbeat) under CPU load.
    # IMMEDIATE: a transaction takes the write lock when it begins, so one that reads
    # before it writes waits for a heartbeat's commit instead of failing at its first
    # write (a deferred transaction cannot upgrade past a newer commit).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        init_command="PRAGMA journal_mode=WAL;", timeout=30, transaction_mode="IMMEDIATE"
    )
    # Tests get a file database too: the in-memory one is shared-cache, where a worker
    # thread's write fails at once with "database table is locked" instead of waiting.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("ANIMENDER_TEST_SQLITE", default=str(VAR_DIR / "test.sqlite3"))
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # PostgreSQL's default random_page_cost (4) models spinning disks and makes it scan
    # the whole catalog instead of using the trigram index of title search (2-3x slower
    # searches); 1.1 is the usual value for SSDs and a catalog that fits in memory.
    # DB_RANDOM_PAGE_COST= (empty) keeps the server's own setting.
    random_page_cost = env.str("DB_RANDOM_PAGE_COST", default="1.1")
    if random_page_cost:
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
            f"-c random_page_cost={float(random_page_cost)}"
        )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Throttle counters live in the cache: per process by default; set CACHE_URL
# (e.g. redis://127.0.0.1:6379/2) so every web worker shares them.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
# "optional": a confirmation mail is sent at sign-up (and on a new address) but login is not
# blocked; set "mandatory" to require it.
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
LOGIN_REDIRECT_URL = "/"
# Local runs print mail (password reset links) to the console. Production sends it over
# SMTP and refuses any backend that would write a reset link to logs or files.
_SMTP = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=_SMTP if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
if PRODUCTION:
    _OFFLINE_MAIL = ("console", "filebased", "locmem", "dummy")
    if any(f".{name}." in EMAIL_BACKEND for name in _OFFLINE_MAIL):
        raise ImproperlyConfigured(
            f"EMAIL_BACKEND={EMAIL_BACKEND} would not deliver mail (password reset links "
            "would end up in logs); use SMTP in production."
        )
    EMAIL_HOST = required("EMAIL_HOST", "")
    DEFAULT_FROM_EMAIL = required("DEFAULT_FROM_EMAIL", "")
    SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
else:
    DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Animender <noreply@localhost>")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
# Local runs serve straight from the app folders; production serves collectstatic's output.
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 24,
    "EXCEPTION_HANDLER": "animender.api_errors.exception_handler",
    # Session for the browser (CSRF enforced), named API tokens for scripts.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "accounts.authentication.ApiTokenAuthentication",
    ],
    # Scopes used by accounts.api_access: per member on /api/me/..., per IP on token login.
    "DEFAULT_THROTTLE_RATES": {
        "me": env.str("API_ME_THROTTLE_RATE", default="300/min"),
        "me_import": env.str("API_IMPORT_THROTTLE_RATE", default="20/hour"),
        "token_obtain": env.str("API_TOKEN_THROTTLE_RATE", default="10/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Animender API",
    "DESCRIPTION": "Anime catalog synced from MyAnimeList, and personal recommendations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Docs assets come from drf-spectacular-sidecar: the docs page needs no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "EngineEnum": "recommender.ml.registry.engine_choices",
        # Import and training runs share one queued/running/done/failed choice set.
        "RunStateEnum": "recommender.models.TrainingRun.State",
        "ListStatusEnum": "accounts.models.ListEntry.Status",
        "ListTabEnum": "accounts.selectors.LIST_TABS",
    },
}

# Celery: no broker -> tasks run eagerly in-process (the quick start needs no service).
CELERY_BROKER_URL = required("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# With acks_late, Redis hands an unacknowledged message to another worker after the
# visibility timeout. It must outlast the longest task hard limit (training: 3,900 s),
# or a long run is started twice. Runs are claimed in the database as well (animender.runs).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=3 * 3600)
}
# Run rows (syncs, trainings): a worker stamps heartbeat_at this often, and the reaper
# fails a running row silent for longer than RUN_STALE_AFTER_SECONDS (its worker died).
RUN_HEARTBEAT_SECONDS = env.float("RUN_HEARTBEAT_SECONDS", default=30.0)
RUN_STALE_AFTER_SECONDS = env.float("RUN_STALE_AFTER_SECONDS", default=300.0)
# Per kind of run (sync, training, evaluation, taste, import, refresh): "import=1800,...",
# over these defaults: the limits those kinds had before the one lifecycle (an import waits
# on MAL's throttling, a taste fit and a refresh hold the GIL in places).
RUN_STALE_AFTER_DEFAULTS = {"taste": 20 * 60.0, "import": 30 * 60.0, "refresh": 10 * 60.0}
RUN_STALE_AFTER_OVERRIDES = {
    **RUN_STALE_AFTER_DEFAULTS,
    **env_kind_numbers("RUN_STALE_AFTER_OVERRIDES", float),
}
# A run whose worker dies is queued again until it has used this many attempts, then stays
# failed with its error (an out-of-memory fit must not restart forever).
RUN_MAX_ATTEMPTS = env.int("RUN_MAX_ATTEMPTS", default=3)
RUN_MAX_ATTEMPTS_OVERRIDES = env_kind_numbers("RUN_MAX_ATTEMPTS_OVERRIDES", int)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    # Season endpoints catch new and changed titles cheaply; the ranking walk is a full resync.
    "catalog-sync-seasonal": {
        "task": "catalog.sync_catalog",
        "schedule": env.int("CATALOG_SEASONAL_SYNC_SECONDS", default=6 * 3600),
        "kwargs": {"mode": "seasonal"},
    },
    # Global engines retrain nightly on the day's community data and members' lists.
    "recommender-train-nightly": {
        "task": "recommender.train_all",
        "schedule": crontab(hour=env.int("TRAIN_HOUR_UTC", default=3), minute=0),
    },
    # related_anime is one request per title: small hourly batches, most popular first.
    "catalog-sync-relations": {
        "task": "catalog.sync_relations",
        "schedule": env.int("CATALOG_RELATIONS_SYNC_SECONDS", default=3600),
    },
    "catalog-sync-full": {
        "task": "catalog.sync_catalog",
        "schedule": env.int("CATALOG_FULL_SYNC_SECONDS", default=7 * 24 * 3600),
        "kwargs": {"mode": "full"},
    },
    # Runs whose worker died (no heartbeat) are failed and queued again.
    "catalog-reap-stale-syncs": {"task": "catalog.reap_stale_runs", "schedule": 120},
    "recommender-reap-stale-runs": {"task": "recommender.reap_stale_runs", "schedule": 120},
    "recommender-reap-stale-evaluations": {
        "task": "recommender.reap_stale_evaluations",
        "schedule": 120,
    },
    # Taste runs, list imports and recommendation refreshes likewise (animender.runs).
    "labeling-reap-stale-taste-runs": {"task": "labeling.reap_stale_taste_runs", "schedule": 120},
    "accounts-reap-stale-imports": {"task": "accounts.reap_stale_imports", "schedule": 120},
    "recommender-reap-stale-refreshes": {
        "task": "recommender.reap_stale_refreshes",
        "schedule": 120,
    },
}

# MyAnimeList API v2
MAL_API_BASE_URL = env.str("MAL_API_BASE_URL", default="https://api.myanimelist.net/v2")
MAL_CLIENT_ID = env.str("MAL_CLIENT_ID", default="")
MAL_TIMEOUT_SECONDS = env.float("MAL_TIMEOUT_SECONDS", default=20.0)
MAL_MAX_RETRIES = env.int("MAL_MAX_RETRIES", default=6)
MAL_BACKOFF_BASE_SECONDS = env.float("MAL_BACKOFF_BASE_SECONDS", default=2.0)
MAL_BACKOFF_MAX_SECONDS = env.float("MAL_BACKOFF_MAX_SECONDS", default=300.0)
# Pause between pages: one request at a time, about 1 per second, as mal-api.md advises.
MAL_REQUEST_INTERVAL_SECONDS = env.float("MAL_REQUEST_INTERVAL_SECONDS", default=1.0)
# Titles per background related_anime batch (one details request each).
MAL_RELATIONS_BATCH = env.int("MAL_RELATIONS_BATCH", default=600)

# List import: caps on an uploaded MAL export, compressed and after gunzip (a 10k-title
# export is about 8 MB of XML, 1 MB gzipped), and on titles fetched from MAL per import.
LIST_IMPORT_MAX_UPLOAD_BYTES = env.int("LIST_IMPORT_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
LIST_IMPORT_MAX_XML_BYTES = env.int("LIST_IMPORT_MAX_XML_BYTES", default=64 * 1024 * 1024)
LIST_IMPORT_MAX_DETAIL_FETCHES = env.int("LIST_IMPORT_MAX_DETAIL_FETCHES", default=200)
# Entries per export, checked by the import task as it parses (MAL's largest lists are a
# few thousand titles; more is not a list to import in one transaction).
LIST_IMPORT_MAX_ENTRIES = env.int("LIST_IMPORT_MAX_ENTRIES", default=50_000)

# Catalog
ANIMENDER_DATA_DIR = env.str("ANIMENDER_DATA_DIR", default="")
SHOW_ADULT_CONTENT = env_bool("SHOW_ADULT_CONTENT", default=False)
# Per-engine hyper-parameter overrides, e.g. {"watchlist_nn": {"epochs": 40}}.
RECOMMENDER_ENGINE_PARAMS = env.json("RECOMMENDER_ENGINE_PARAMS", default={})
# What a member's score says (animender/score_rules.py): at or above the first it is a like
# (reasons name it, the taste model learns it), at or below the second a dislike, which
# counts against its neighbours; between, neither.
RECOMMENDER_LIKE_MIN_SCORE = env.int("RECOMMENDER_LIKE_MIN_SCORE", default=8)
RECOMMENDER_DISLIKE_MAX_SCORE = env.int("RECOMMENDER_DISLIKE_MAX_SCORE", default=4)
if not 1 <= RECOMMENDER_DISLIKE_MAX_SCORE < RECOMMENDER_LIKE_MIN_SCORE <= 10:
    # A rule where a score is both, or where nothing can be a like, stops startup.
    raise ImproperlyConfigured(
        "need 1 <= RECOMMENDER_DISLIKE_MAX_SCORE < RECOMMENDER_LIKE_MIN_SCORE <= 10"
    )
# POST /api/recommendations/ is open to anyone: a per-IP rate (DRF syntax, e.g. 30/minute).
RECOMMENDATIONS_ANON_RATE = env.str("RECOMMENDATIONS_ANON_RATE", default="30/minute")
MODEL_DIR = Path(env.str("ANIMENDER_MODEL_DIR", default=str(VAR_DIR / "models")))
# A training run's memory cap in MB (0: none). Set, each fit runs in a child process
# limited to it (RLIMIT_DATA): running out fails the run ("out of memory") and the
# previous version keeps serving, instead of the kernel killing the worker.
TRAINING_MEMORY_LIMIT_MB = env.int("TRAINING_MEMORY_LIMIT_MB", default=0)

# Personal recommendations (recommender.personal.services)
# Cards stored per member and engine: deep enough that the page's filters still fill a page.
RECOMMENDATIONS_STORED_PER_ENGINE = env.int("RECOMMENDATIONS_STORED_PER_ENGINE", default=300)
# A refresh waits this long after the change that asked for it, so a burst of ratings is
# one refresh (requests while one is queued are dropped: the queued one reads them all).
RECOMMENDATIONS_REFRESH_DELAY_SECONDS = env.int("RECOMMENDATIONS_REFRESH_DELAY_SECONDS", default=3)
# After a retrain every member refreshes: this many members per task, one after another;
# a batch still going after BATCH_SECONDS hands the rest to a new batch task.
RECOMMENDATIONS_REFRESH_BATCH_SIZE = env.int("RECOMMENDATIONS_REFRESH_BATCH_SIZE", default=50)
RECOMMENDATIONS_REFRESH_BATCH_SECONDS = env.int(
    "RECOMMENDATIONS_REFRESH_BATCH_SECONDS", default=5 * 60
)
# "Surprise me" leaves out the titles ranked this popular or more on MAL.
RECOMMENDATIONS_SURPRISE_SKIP_POPULAR = env.int(
    "RECOMMENDATIONS_SURPRISE_SKIP_POPULAR", default=1000
)

# Per-user taste models (labeling app)
# A member's model retrains in the background after this many new like/dislike labels.
TASTE_RETRAIN_EVERY = env.int("TASTE_RETRAIN_EVERY", default=10)
# Share of each queue page picked at random among eligible titles. Off by default: the
# variance-reduction queue already asks about confident titles when their answers teach
# much, and one random title per 10 cost 0.0024 AP at 40 labels (400 simulated users).
TASTE_EXPLORATION = env.float("TASTE_EXPLORATION", default=0.0)
# After each training the queue's next questions are chosen among this many of the most
# popular titles the member has not labeled or listed (variance reduction, see README),
# and this many of them are stored in order.
TASTE_ASK_POOL = env.int("TASTE_ASK_POOL", default=1500)
TASTE_ASK_ORDER = env.int("TASTE_ASK_ORDER", default=50)
# Learn item factors from community ratings into the catalog features.
TASTE_COMMUNITY_FEATURES = env_bool("TASTE_COMMUNITY_FEATURES", default=True)

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # HSTS starts at one hour, so a TLS mistake locks browsers out for an hour, not a
    # month. Raise it once HTTPS is known good (README: Production); preloading needs a
    # year or more and is opt-in.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
    if SECURE_HSTS_PRELOAD and SECURE_HSTS_SECONDS < 365 * 24 * 3600:
        raise ImproperlyConfigured("SECURE_HSTS_PRELOAD needs SECURE_HSTS_SECONDS >= 31536000.")
    # check --deploy asks for preload and subdomains; both are deliberate opt-ins here.
    SILENCED_SYSTEM_CHECKS = [
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
        *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
    ]
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
