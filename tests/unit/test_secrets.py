"""The product-wide masking rule (devenv.core.secrets): names, values, inline text, argv, compose configs."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from devenv.core.secrets import (
    MASK,
    Masker,
    is_secret_name,
    looks_like_secret,
    mask_argv,
    mask_command,
    mask_config,
    mask_env,
    mask_env_value,
    mask_text,
    secret_values,
)

# ------------------------------------------------------------------------------------------ names
SECRET_NAMES = [
    # the issue's names
    "API_TOKEN", "POSTGRES_PASSWORD", "DB_PASS", "PGPASS", "MYSQL_PWD", "PASSPHRASE", "JWT_SIGNING",
    "STRIPE_SK", "AUTH", "DATABASE_DSN", "SENTRY_DSN",
    # segments and compounds
    "PGPASSWORD", "DB_PASSWD", "MYSQL_ROOT_PASSWORD", "REDIS_PASSWORD", "SECRET", "SECRET_KEY",
    "SECRET_KEY_BASE", "CLIENT_SECRET", "WEBHOOK_SECRET", "GH_TOKEN", "GHTOKEN", "NPM_TOKEN",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "API_KEY", "APIKEY", "STRIPE_APIKEY", "KEY",
    "ENCRYPTION_KEY", "SSH_PRIVATE_KEY", "PRIVATE_KEY", "GOOGLE_CREDENTIALS", "CREDENTIAL", "CREDS",
    "BASIC_AUTH", "REDIS_AUTH", "AUTHORIZATION", "SIGNING_KEY", "PASSWORD_SALT", "PEPPER",
    "SESSION", "AUTH_COOKIE", "DB_PW", "PASSWORD2", "TOKEN_1",
    # other spellings: lower case, camelCase, dotted and dashed (labels, flags, JSON keys)
    "db_password", "dbPassword", "apiKey", "authToken", "spring.datasource.password",
    "com.example.api-token", "--password", "--db-password", "-Dpassword", "X-Api-Key",
]  # fmt: skip

NOT_SECRET_NAMES = [
    # must not be masked (the issue's negatives)
    "PATH", "KEYBOARD", "MONKEY", "HOSTNAME", "AUTHOR",
    # the shell's working directory
    "PWD", "OLDPWD",
    # settings about a secret, not the secret (last segment is a qualifier)
    "PASSWORD_MIN_LENGTH", "POSTGRES_PASSWORD_FILE", "PGPASSFILE", "SECRET_KEY_FILE", "AUTH_URL",
    "AUTH_ENABLED", "AUTH_METHOD", "POSTGRES_HOST_AUTH_METHOD", "SESSION_DRIVER", "SESSION_TIMEOUT",
    "SESSION_COOKIE_NAME", "TOKEN_TTL", "JWT_ALGORITHM", "PASSWORD_HASHERS", "--password-file",
    # negated flags
    "--no-password", "NO_AUTH",
    # ordinary names, including words that end like secret words
    "POSTGRES_USER", "POSTGRES_DB", "DATABASE_URL", "DEBUG", "PORT", "BYPASS_CACHE", "COMPASS_URL",
    "KEYBOARD_LAYOUT", "TURKEY", "AUTHORS", "OAUTH2_CLIENT_ID", "LOG_LEVEL", "PASSPORT_NUMBER", "",
]  # fmt: skip


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", NOT_SECRET_NAMES)
def test_names_that_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


# ----------------------------------------------------------------------------------------- values
TOKENS = [
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "whsec_abcdefghijklmnop1234",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "glpat-abcdefghij0123456789",
    "xoxb-1234567890-abcdefghijklmnop",
    "xoxp-1234567890-abcdefghijklmnop",
    "AKIAIOSFODNN7EXAMPLE",
    "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
    "0123456789abcdef0123456789abcdef",  # 32 hex
    "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRg==",  # base64 mixing classes
    "q8Jf2Lz0XbV5nR7tW1yK3mP9sD4gH6cA",  # random token
]
NOT_TOKENS = [
    "",
    "hunter2",  # a weak password is found by its name, not its form
    "/usr/local/lib/python3.11/site-packages",
    "src/MyApp/Assets2/Images/Backgrounds",
    "550e8400-e29b-41d4-a716-446655440000",  # a UUID
    "postgres:16",
    "devenv-test/python:latest",
    "tasktracker",
    "my_very_long_database_name_for_the_tests",
    "0123456789abcdef",  # short hex
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
]


@pytest.mark.parametrize("value", TOKENS)
def test_values_that_look_like_secrets(value: str) -> None:
    assert looks_like_secret(value)
    assert mask_env_value("SOMETHING", value) == MASK


@pytest.mark.parametrize("value", NOT_TOKENS)
def test_values_that_do_not_look_like_secrets(value: str) -> None:
    assert not looks_like_secret(value)
    assert mask_env_value("SOMETHING", value) == value


# ------------------------------------------------------------------------------------ inline text
M = MASK
TEXT_CASES = [
    # URL userinfo, any scheme; the password runs to the LAST "@" before the host
    ("postgres://u:p@ss@host/db", f"postgres://u:{M}@host/db"),
    ("postgres://u:p@ss@host:5432/db?sslmode=disable", f"postgres://u:{M}@host:5432/db?sslmode=disable"),
    ("mysql://root:s3cr3t@db/app", f"mysql://root:{M}@db/app"),
    ("redis://:s3cret@redis:6379/0", f"redis://:{M}@redis:6379/0"),
    ("amqp://guest:guest@rabbit:5672/", f"amqp://guest:{M}@rabbit:5672/"),
    ("postgresql+psycopg://app:x@db/shop", f"postgresql+psycopg://app:{M}@db/shop"),
    ("https://user:tok@en@example.com/path", f"https://user:{M}@example.com/path"),
    ("see postgres://a:b@h/x and mysql://c:d@m/y", f"see postgres://a:{M}@h/x and mysql://c:{M}@m/y"),
    ("url='postgres://u:pw@db/x'", f"url='postgres://u:{M}@db/x'"),
    # assignments: shell, env, query strings, JSON-ish
    ('sh -c "PGPASSWORD=x psql -h db"', f'sh -c "PGPASSWORD={M} psql -h db"'),
    ("PGPASSWORD=hunter2 pg_isready -U app", f"PGPASSWORD={M} pg_isready -U app"),
    ("export DB_PASS='two words'; run", f"export DB_PASS='{M}'; run"),
    ('API_TOKEN="abc def" cmd', f'API_TOKEN="{M}" cmd'),
    ("https://api.example.com/v1?token=abc123&page=2", f"https://api.example.com/v1?token={M}&page=2"),
    ("spring.datasource.password=secret1", f"spring.datasource.password={M}"),
    ('{"password": "hunter2", "user": "bob"}', f'{{"password": "{M}", "user": "bob"}}'),
    ("{'api_key': 'k-123'}", f"{{'api_key': '{M}'}}"),
    ("password: hunter2", f"password: {M}"),
    ("X-Api-Key: abc123", f"X-Api-Key: {M}"),
    # flags
    ("server --password=hunter2 --port 80", f"server --password={M} --port 80"),
    ("server --password hunter2 --port 80", f"server --password {M} --port 80"),
    ("cli --token abc", f"cli --token {M}"),
    ("cli --api-key=abc --db-password 'p w'", f"cli --api-key={M} --db-password '{M}'"),
    ("java -Dpassword=x -jar app.jar", f"java -Dpassword={M} -jar app.jar"),
    # MySQL/MariaDB -p, redis-cli -a, curl -u
    ("mysqladmin ping -h db -psecret", f"mysqladmin ping -h db -p{M}"),
    ("mariadb -uroot -p'se cret' -e 'select 1'", f"mariadb -uroot -p'{M}' -e 'select 1'"),
    ("redis-cli -a s3cret ping", f"redis-cli -a {M} ping"),
    ("curl -fsS -u admin:pw http://x/health", f"curl -fsS -u admin:{M} http://x/health"),
    # authorization headers
    ("Authorization: Bearer abc.def.ghi", f"Authorization: Bearer {M}"),
    ('curl -H "Authorization: Basic dXNlcjpwYXNz" http://x', f'curl -H "Authorization: Basic {M}" http://x'),
    ("authorization=Token abcdef123", f"authorization=Token {M}"),
    ("sending Bearer abcdefgh12345678", f"sending Bearer {M}"),
    # tokens anywhere in text
    ("using sk_live_4eC39HqLyjWDarjtT1zdp7dc now", f"using {M} now"),
    ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", M),
    ("key=AKIAIOSFODNN7EXAMPLE;", f"key={M};"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-1 ok", f"jwt {M} ok"),
    ("a\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\nb", f"a\n{M}\nb"),
]
TEXT_UNCHANGED = [
    "",
    "redis://redis:6379/0",
    "http://example.com:8080/path",
    "http://example.com:8080/p@x",
    "postgres://app@db/shop",
    'FATAL:  password authentication failed for user "app"',
    "PGPASSWORD=$DB_PASS psql",  # a variable reference holds no secret
    "mysqladmin ping -p$$MYSQL_ROOT_PASSWORD",
    "pg_isready -U app -d shop",
    "pg_dump --no-password -d shop",
    "cp -pr /src /dst",  # -p is only a password next to a MySQL client
    "docker run -p 8080:80 -u 1000:1000 img",
    "duplicate key value violates unique constraint",
    "key: value",  # weak words need "=" or a quoted key in free text
    "container 3f4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f started",
    "PASSWORD_MIN_LENGTH=12 AUTH_URL=https://auth.example.com",
    "mysql --password -h db",  # prompts: the next word is a flag, not a value
]


@pytest.mark.parametrize(("text", "masked"), TEXT_CASES)
def test_text_rules(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", TEXT_UNCHANGED)
def test_text_left_alone(text: str) -> None:
    assert mask_text(text) == text


# ------------------------------------------------------------------------------------------- argv
ARGV_CASES = [
    (["server", "--password=hunter2"], ["server", f"--password={M}"]),
    (["server", "--password", "hunter2", "--port", "80"], ["server", "--password", M, "--port", "80"]),
    (["cli", "--token", "abc"], ["cli", "--token", M]),
    (["CMD", "mysqladmin", "ping", "-psecret"], ["CMD", "mysqladmin", "ping", f"-p{M}"]),
    (["CMD-SHELL", "PGPASSWORD=x pg_isready -U app"], ["CMD-SHELL", f"PGPASSWORD={M} pg_isready -U app"]),
    (["sh", "-c", "PGPASSWORD=x psql"], ["sh", "-c", f"PGPASSWORD={M} psql"]),
    (["redis-cli", "-a", "s3cret", "ping"], ["redis-cli", "-a", M, "ping"]),
    (["curl", "-u", "admin:pw", "http://x"], ["curl", "-u", f"admin:{M}", "http://x"]),
    (["app", "--dsn", "postgres://u:p@h/d"], ["app", "--dsn", M]),
    (["app", "--database-url", "postgres://u:p@h/d"], ["app", "--database-url", f"postgres://u:{M}@h/d"]),
    (["run", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"], ["run", M]),
    # left alone
    (["uvicorn", "app:app", "--port", "8000"], ["uvicorn", "app:app", "--port", "8000"]),
    (["mysql", "--password", "-h", "db"], ["mysql", "--password", "-h", "db"]),
    (["pg_isready", "-U", "app"], ["pg_isready", "-U", "app"]),
    (["docker", "run", "-p", "8080:80", "-u", "1000:1000"], ["docker", "run", "-p", "8080:80", "-u", "1000:1000"]),
    (["server", "--password-file", "/run/secrets/pw"], ["server", "--password-file", "/run/secrets/pw"]),
]


@pytest.mark.parametrize(("argv", "masked"), ARGV_CASES)
def test_argv_rules(argv: list[str], masked: list[str]) -> None:
    assert mask_argv(argv) == masked
    assert mask_command(argv) == masked


def test_mask_command_string_and_none() -> None:
    assert mask_command("server --password=x") == f"server --password={M}"
    assert mask_command(None) is None


# ---------------------------------------------------------------------------------- environments
def test_mask_env_map_and_list() -> None:
    env = {"DB_PASS": "x", "PORT": "80", "EMPTY_TOKEN": "", "NONE_KEY": None, "API_KEY": 123, "FLAG_SECRET": True}
    assert mask_env(env) == {"DB_PASS": M, "PORT": "80", "EMPTY_TOKEN": "", "NONE_KEY": None, "API_KEY": M,
                             "FLAG_SECRET": True}  # fmt: skip
    assert mask_env(["DB_PASS=x", "PORT=80", "EMPTY_TOKEN=", "JUST_A_NAME", "URL=redis://:pw@r/0"]) == [
        f"DB_PASS={M}",
        "PORT=80",
        "EMPTY_TOKEN=",
        "JUST_A_NAME",
        f"URL=redis://:{M}@r/0",
    ]


# --------------------------------------------------------------------------------------- Masker
def test_masker_masks_known_values_anywhere_and_applies_rules() -> None:
    mask = Masker(["hunter2", "ab", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"])
    assert mask("connecting with password hunter2") == f"connecting with password {M}"
    assert mask("xhunter2y") == f"x{M}y"  # a plain substring match
    assert mask("ab is too short to be a known value") == "ab is too short to be a known value"
    assert mask("a line of the key: MIIEvQIBADANBg") == f"a line of the key: {M}"
    assert mask("server --token abc") == f"server --token {M}"  # the rules apply as well
    assert mask.optional(None) is None
    assert mask.lines(["hunter2", "ok"]) == (M, "ok")


def test_masker_ignores_boolean_words() -> None:
    mask = Masker.from_config({"services": {"db": {"environment": {"MYSQL_RANDOM_ROOT_PASSWORD": "true"}}}})
    assert mask("healthy: true") == "healthy: true"


# ------------------------------------------------------------------------------- compose configs
SECRET_VALUES = {
    "API_TOKEN": "tok-api-1111",
    "POSTGRES_PASSWORD": "pg-pass-2222",
    "DB_PASS": "dbpass-3333",
    "PGPASS": "pgpass-4444",
    "MYSQL_PWD": "mysqlpwd-5555",
    "PASSPHRASE": "passphrase-6666",
    "JWT_SIGNING": "jwtsigning-7777",
    "STRIPE_SK": "stripe-sk-8888",
    "AUTH": "user:auth-9999",
    "DATABASE_DSN": "host=db user=app password=dsnpass-1010",
    "SENTRY_DSN": "https://sentrykey1212@o1.ingest.sentry.io/1",
}


def hostile_config() -> dict[str, Any]:
    """A compose config (as `docker compose config --format json` gives it) with every case of the issue."""
    return {
        "name": "shop",
        "services": {
            "db": {
                "image": "postgres:16",
                "environment": {
                    **SECRET_VALUES,
                    "DATABASE_URL": "postgres://app:url-p@ss-1313@db:5432/shop",
                    "POSTGRES_USER": "app",
                    "PATH": "/usr/bin:/bin",
                    "PASSWORD_MIN_LENGTH": "12",
                    "GITHUB": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
                },
                "command": ["server", "--password=cmd-pass-1414", "--token", "cmd-tok-1515"],
                "healthcheck": {
                    "test": ["CMD", "mysqladmin", "ping", "-phc-pass-1616"],
                    "interval": "1s",
                },
                "labels": {"com.example.api-token": "label-tok-1717", "com.example.team": "core"},
                "ports": [{"target": 5432, "published": "5432"}],
            },
            "api": {
                "build": {"context": ".", "args": ["NPM_TOKEN=npm-tok-1818", "NODE_ENV=dev"]},
                "environment": ["PGPASSWORD=list-pass-1919", "LOG_LEVEL=debug"],
                "entrypoint": ["sh", "-c", "PGPASSWORD=inline-2020 psql -h db"],
                "healthcheck": {"test": ["CMD-SHELL", "PGPASSWORD=hc-inline-2121 pg_isready -U app"]},
                "secrets": [{"source": "stripe_key", "target": "stripe_key"}],
                "x-note": "echo cmd-pass-1414",  # a known value reused elsewhere
            },
        },
        "secrets": {
            "stripe_key": {"file": "./secrets/stripe.txt"},
            "inline": {"content": "inline-secret-2222"},
        },
        "x-meta": [{"token": "tok-meta-2323"}, 3, True, None],
    }


ALL_SECRETS = [
    *SECRET_VALUES.values(),
    "url-p@ss-1313",
    "p@ss-1313",
    "ss-1313",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "cmd-pass-1414",
    "cmd-tok-1515",
    "hc-pass-1616",
    "label-tok-1717",
    "npm-tok-1818",
    "list-pass-1919",
    "inline-2020",
    "hc-inline-2121",
    "inline-secret-2222",
    "tok-meta-2323",
    "dsnpass",
    "sentrykey",
    "auth-9999",
]


def test_mask_config_masks_every_case_of_the_issue() -> None:
    config = hostile_config()
    original = copy.deepcopy(config)
    masked = mask_config(config)
    assert config == original  # the input is not modified
    dump = json.dumps(masked)
    for secret in ALL_SECRETS:
        assert secret not in dump, secret
    db, api = masked["services"]["db"], masked["services"]["api"]
    assert db["environment"]["DATABASE_URL"] == f"postgres://app:{M}@db:5432/shop"
    assert db["environment"]["POSTGRES_USER"] == "app"
    assert db["environment"]["PATH"] == "/usr/bin:/bin"
    assert db["environment"]["PASSWORD_MIN_LENGTH"] == "12"
    assert all(db["environment"][name] == M for name in SECRET_VALUES)
    assert db["command"] == ["server", f"--password={M}", "--token", M]
    assert db["healthcheck"] == {"test": ["CMD", "mysqladmin", "ping", f"-p{M}"], "interval": "1s"}
    assert db["labels"] == {"com.example.api-token": M, "com.example.team": "core"}
    assert db["ports"] == original["services"]["db"]["ports"]
    assert api["build"]["args"] == [f"NPM_TOKEN={M}", "NODE_ENV=dev"]
    assert api["environment"] == [f"PGPASSWORD={M}", "LOG_LEVEL=debug"]
    assert api["entrypoint"] == ["sh", "-c", f"PGPASSWORD={M} psql -h db"]
    assert api["healthcheck"]["test"] == ["CMD-SHELL", f"PGPASSWORD={M} pg_isready -U app"]
    assert api["secrets"] == original["services"]["api"]["secrets"]
    assert api["x-note"] == f"echo {M}"
    assert masked["secrets"] == {"stripe_key": {"file": "./secrets/stripe.txt"}, "inline": {"content": M}}
    assert masked["x-meta"] == [{"token": M}, 3, True, None]


def test_secret_values_of_a_config_feed_the_masker() -> None:
    values = secret_values(hostile_config())
    assert {"pg-pass-2222", "url-p@ss-1313", "cmd-pass-1414", "hc-pass-1616", "inline-2020"} <= values
    mask = Masker.from_config(hostile_config())
    line = "db: connecting with pg-pass-2222 and url-p@ss-1313; healthcheck said hc-inline-2121"
    assert mask(line) == f"db: connecting with {M} and {M}; healthcheck said {M}"
    assert Masker.from_config(None)("pg-pass-2222") == "pg-pass-2222"


def test_config_command_masks_every_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """`devenv config` (text and --json) prints none of the values; --show-secrets prints them."""
    import io
    from types import SimpleNamespace

    from devenv.cli import config_cmds, stack_cmds
    from devenv.cli.output import Output

    fake = SimpleNamespace(
        config_json=hostile_config,
        profile=SimpleNamespace(name="dev"),
        compose_args=lambda: ["docker", "compose"],
        endpoint=SimpleNamespace(child_env={}),
    )
    monkeypatch.setattr(stack_cmds, "load_stack", lambda _args, *_rest, **_kw: fake)
    for as_json in (False, True):
        for show in (False, True):
            output = Output(json_mode=as_json, color=False)
            output.out, output.err = io.StringIO(), io.StringIO()
            args = SimpleNamespace(json=as_json, show_secrets=show)
            assert config_cmds.cmd_config(args, output) == 0  # type: ignore[arg-type]
            text = output.out.getvalue()
            if show:
                assert "pg-pass-2222" in text and "cmd-pass-1414" in text
            else:
                assert M in text
                for secret in ALL_SECRETS:
                    assert secret not in text, (as_json, secret)


def test_health_output_from_inspect_is_masked_with_the_containers_own_settings() -> None:
    """What `devenv status` and the TUI read: no compose config needed, the container's Env is enough."""
    from devenv.core.engine.containers import container_from_inspect

    doc = {
        "Id": "c1",
        "Name": "/shop-db-1",
        "Config": {
            "Env": ["DB_PASS=from-env-file-99", "PATH=/usr/bin:/bin"],
            "Labels": {"com.docker.compose.service": "db"},
            "Healthcheck": {"Test": ["CMD", "mysqladmin", "ping", "-phc-pw-55"]},
        },
        "State": {
            "Status": "running",
            "Health": {"Status": "unhealthy", "Log": [{"Output": "no from-env-file-99 hc-pw-55"}]},
        },
    }
    assert container_from_inspect(doc).health_output == f"no {M} {M}"


@pytest.mark.parametrize("unit", ["a.", "a-", "a:", "a=", "-a ", "a@", '"', "Ab1", "password ", "Bearer "])
def test_long_hostile_lines_mask_in_linear_time(unit: str) -> None:
    import time

    line = unit * (100_000 // len(unit))
    t0 = time.perf_counter()
    Masker(["hunter2"])(line)
    assert time.perf_counter() - t0 < 1.0
