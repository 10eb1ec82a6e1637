"""The smallest Django site for the debugger tests: one view, no apps, a throwaway SQLite file."""

SECRET_KEY = "devenv-tests-only"
DEBUG = True
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djsite.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/djsite.sqlite3"}}
USE_TZ = True
