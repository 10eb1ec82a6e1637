"""One masking rule for secrets, used by every front end (CLI text, ``--json``, the TUI).

Nothing here does I/O or imports a UI library: callers hand in names, values, text, argv lists or
a whole ``docker compose config`` document and get masked copies back. A masked value is replaced
by :data:`MASK` (a masked URL password keeps the rest of the URL).

The rules:

- **Names** (:func:`is_secret_name`): a name is split into segments on ``_ - . / :``, spaces and
  camelCase, trailing digits dropped; it is secret when a segment is one of :data:`SECRET_WORDS`
  (``PASSWORD``, ``PASS``, ``PWD``, ``TOKEN``, ``KEY``, ``AUTH``, ``DSN``, ``SK``, ``SESSION`` ...)
  or ends with one of :data:`SECRET_SUFFIXES` (``PGPASSWORD``, ``PGPASS``, ``GHTOKEN``,
  ``STRIPEAPIKEY``; not ``BYPASS``/``COMPASS``). Not secret although a segment matches:
  names whose *last* segment is a setting about the secret (:data:`QUALIFIERS`:
  ``PASSWORD_MIN_LENGTH``, ``POSTGRES_PASSWORD_FILE``, ``AUTH_URL``, ``SESSION_TIMEOUT``,
  ``--password-file``), names whose first segment is ``NO`` (``--no-password``), and ``PWD`` /
  ``OLDPWD`` alone (the shell's working directory). ``KEYBOARD``, ``MONKEY``, ``AUTHOR``,
  ``HOSTNAME``, ``PATH`` are single segments that are not secret words.
- **Values** (:func:`looks_like_secret`): passwords in URL userinfo of any scheme (split at the
  *last* ``@`` before the host, so ``postgres://u:p@ss@host/db`` masks ``p@ss``), well-known token
  formats (Stripe ``sk_live_``, GitHub ``ghp_``/``github_pat_``, GitLab ``glpat-``, Slack
  ``xoxb-``, AWS ``AKIA``, Google ``AIza``, npm ``npm_``, SendGrid, JWTs, PEM private key blocks)
  anywhere; and, for structured values only (never in free text, where container ids and digests
  are common), long random-looking strings: hex of 32+ characters, or base64/base64url of 32+
  characters mixing upper case, lower case and digits.
- **Inline** in free text and argv (:func:`mask_text`, :func:`mask_argv`): ``NAME=value`` and
  ``"name": "value"`` for secret names, ``--password=x`` / ``--password x`` / ``-Dpassword=x``,
  ``Authorization: Bearer x`` and ``Bearer x``, MySQL/MariaDB ``-pSECRET``, ``redis-cli -a x``,
  ``curl -u user:pw``. A value that is only a variable reference (``$DB_PASS``, ``${DB_PASS}``) is
  kept in text: the secret is not in it.
- **Known values** (:class:`Masker`): every value one of the rules above finds in a compose config
  (service environments, build args, labels, commands, healthchecks, inline secrets) is masked
  wherever it appears in text (log lines, healthcheck output), if at least
  :data:`MIN_SECRET_LEN` characters long. The match is a plain substring match: a trivial password
  such as ``postgres`` masks that word everywhere in the output, which is the safe side.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "MASK",
    "MIN_SECRET_LEN",
    "QUALIFIERS",
    "SECRET_SUFFIXES",
    "SECRET_WORDS",
    "Masker",
    "is_secret_name",
    "looks_like_secret",
    "mask_argv",
    "mask_command",
    "mask_config",
    "mask_env",
    "mask_env_value",
    "mask_text",
    "secret_values",
]

MASK = "********"
#: Known values shorter than this are not masked in free text (they would hide ordinary words).
MIN_SECRET_LEN = 4

# ------------------------------------------------------------------------------------------- names
SECRET_WORDS = frozenset(
    {
        "PASSWORD", "PASSWORDS", "PASSWD", "PASS", "PWD", "PW", "PASSPHRASE", "PASSCODE",
        "SECRET", "SECRETS", "TOKEN", "TOKENS", "KEY", "KEYS", "APIKEY", "PRIVATE", "PRIVATEKEY",
        "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH", "AUTHORIZATION", "SIGNING", "SK", "DSN",
        "SALT", "PEPPER", "COOKIE", "SESSION", "BEARER",
    }
)  # fmt: skip
SECRET_SUFFIXES = (
    "PASSWORD", "PASSWD", "PASSPHRASE", "PASS", "PWD", "SECRET", "TOKEN",
    "APIKEY", "PRIVATEKEY", "SECRETKEY", "ACCESSKEY", "AUTHKEY", "MASTERKEY", "CREDENTIALS",
)  # fmt: skip
_NOT_SECRET_SEGMENTS = frozenset(
    {"BYPASS", "COMPASS", "ENCOMPASS", "SURPASS", "OVERPASS", "UNDERPASS", "TRESPASS", "OLDPWD"}
)
#: A last name segment that makes the name a setting *about* a secret, not the secret itself.
QUALIFIERS = frozenset(
    {
        "FILE", "FILES", "PATH", "DIR", "LENGTH", "LEN", "MIN", "MAX", "SIZE", "COUNT", "NAME",
        "PREFIX", "SUFFIX", "TTL", "TIMEOUT", "LIFETIME", "AGE", "EXPIRY", "EXPIRES", "EXPIRE",
        "EXPIRATION", "ENABLED", "ENABLE", "DISABLED", "DISABLE", "REQUIRED", "POLICY", "ALGORITHM",
        "ALGORITHMS", "ALG", "TYPE", "FORMAT", "HEADER", "DRIVER", "ENGINE", "BACKEND", "DOMAIN",
        "SECURE", "HTTPONLY", "SAMESITE", "URL", "URI", "ENDPOINT", "HOST", "PORT", "USER",
        "USERNAME", "METHOD", "MODE", "VERSION", "PROVIDER", "ISSUER", "AUDIENCE", "REALM", "SCOPE",
        "SCOPES", "ROUNDS", "ITERATIONS", "HASHER", "HASHERS", "VALIDATORS", "STRENGTH",
    }
)  # fmt: skip
# Segments that make a secret name on their own in the unquoted ``name: value`` form of free text,
# where weaker words (``key: ...``, ``auth: ...``, ``session: ...``) are mostly log prose.
_STRONG_WORDS = frozenset(
    {"PASSWORD", "PASSWORDS", "PASSWD", "PASS", "PWD", "PW", "PASSPHRASE", "SECRET", "SECRETS", "TOKEN", "APIKEY"}
)

_COMPOUND_KEYS = ("APIKEY", "ACCESSKEY", "SECRETKEY", "PRIVATEKEY", "AUTHTOKEN")

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[\s_\-./:]+")


def _segments(name: str) -> list[str]:
    parts = [p.upper() for p in _SPLIT.split(_CAMEL.sub("_", name)) if p]
    return [p.rstrip("0123456789") or p for p in parts]


def _secret_segment(seg: str) -> bool:
    if seg in SECRET_WORDS:
        return True
    return seg not in _NOT_SECRET_SEGMENTS and seg.endswith(SECRET_SUFFIXES)


def is_secret_name(name: str, *, strong: bool = False) -> bool:
    """Whether a variable, key, label or flag name (``DB_PASS``, ``apiKey``, ``--password``) holds a secret.

    ``strong``: only the password/secret/token words count (used for ``name: value`` in free text).
    """
    segs = _segments(name.lstrip("-"))
    if not segs or (len(segs) > 1 and (segs[0] == "NO" or segs[-1] in QUALIFIERS)):
        return False
    if segs == ["PWD"]:
        return False
    if strong:
        joined = "".join(segs)
        return any(word in joined for word in _COMPOUND_KEYS) or any(
            s in _STRONG_WORDS or (s not in _NOT_SECRET_SEGMENTS and s.endswith(SECRET_SUFFIXES)) for s in segs
        )
    return any(_secret_segment(s) for s in segs)


# ------------------------------------------------------------------------------------------ values
_PEM = re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)", re.S)
_TOKEN = re.compile(
    r"\b(?:"
    r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{8,}"
    r"|whsec_[0-9A-Za-z]{16,}"
    r"|gh[pousr]_[0-9A-Za-z]{20,}"
    r"|github_pat_[0-9A-Za-z_]{20,}"
    r"|glpat-[0-9A-Za-z_-]{20,}"
    r"|xox[abposr]-[0-9A-Za-z-]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|npm_[0-9A-Za-z]{36}"
    r"|SG\.[0-9A-Za-z_-]{16,}\.[0-9A-Za-z_-]{16,}"
    r"|eyJ[0-9A-Za-z_-]{5,}\.[0-9A-Za-z_-]{5,}\.[0-9A-Za-z_-]*"
    r")"
)
# scheme://user:password@host -- the password runs to the LAST "@" before the host, so it may hold "@".
_URL = re.compile(r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/?#@\"']*:)(?P<pw>[^\s/?#\"']*)@")
_HEX = re.compile(r"[0-9a-fA-F]{32,}")
_B64 = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")
_VAR_REF = re.compile(r"\$+(?:\{[A-Za-z_]\w*(?:[:?+-][^}]*)?\}|[A-Za-z_]\w*)")


def _is_blob(value: str) -> bool:
    if len(value) < 32 or value[0] in "/.~":
        return False
    if _HEX.fullmatch(value):
        return True
    if not _B64.fullmatch(value):
        return False
    if not (any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)):
        return False
    return max(len(part) for part in value.split("/")) >= 16  # a/path/of/Short2/Words is not random


def looks_like_secret(value: str) -> bool:
    """Whether a whole value is a key or token by its form (token prefixes, JWT, PEM, long random strings)."""
    value = value.strip()
    return bool(value) and (_is_blob(value) or _TOKEN.fullmatch(value) is not None or _PEM.match(value) is not None)


# ---------------------------------------------------------------------------------------- masking
Hide = Callable[[str], str]


def _hider(found: list[str] | None) -> Hide:
    def hide(secret: str) -> str:
        if found is not None and secret and MASK not in secret:
            found.append(secret)
        return MASK

    return hide


_VAL = r"""(?P<val>"[^"\n]*"|'[^'\n]*'|[^\s"'`;&|]+)"""
_ASSIGN = re.compile(r"(?<![\w.$-])(?P<name>[A-Za-z_][\w.-]*)=(?!=)" + _VAL)
_FLAG = re.compile(r"(?<![\w-])(?P<name>--?[A-Za-z][\w.-]*)(?:=|[ \t]+(?=[^\s-]))" + _VAL)
_COLON = re.compile(r"(?<![\w.-])(?P<q>[\"']?)(?P<name>[A-Za-z_][\w.-]*)(?P=q)[ \t]*:[ \t]*" + _VAL)
_AUTH = re.compile(
    r"(?i)(?P<pre>\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"(?:(?:bearer|basic|digest|token|bot|apikey)[ \t]+)?)(?P<val>[^\s\"',;]+)"
)
_BEARER = re.compile(r"(?P<pre>\b(?:Bearer|Basic)[ \t]+)(?P<val>[A-Za-z0-9._~+/=-]{8,})")
_MYSQL = re.compile(r"(?i)\b(?:mysql|mariadb)")
_DASH_P = re.compile(r"(?<![\w-])-p" + _VAL)
_REDIS = re.compile(r"\bredis-cli\b")
_DASH_A = re.compile(r"(?<![\w-])-a[ \t]+" + _VAL)
_CURL = re.compile(r"\bcurl\b")
_CURL_USER = re.compile(r"(?<![\w-])(?P<pre>(?:-u|--user)(?:[ \t]+|=)[\"']?[^\s:\"']+:)(?P<val>[^\s\"']+)")


def _hide_val(val: str, hide: Hide) -> str:
    """Mask one matched value, keeping its quotes; empty values, masks and ``$VAR`` references stay."""
    quote = val[0] if val[:1] in ("'", '"') and val[-1:] == val[0] and len(val) >= 2 else ""
    inner = val[1:-1] if quote else val
    if not inner or MASK in inner or _VAR_REF.fullmatch(inner):
        return val
    return f"{quote}{hide(inner)}{quote}"


def _mask_text(text: str, hide: Hide, context: str | None = None) -> str:
    if not text:
        return text
    context = text if context is None else context
    text = _PEM.sub(lambda m: hide(m[0]), text)
    text = _URL.sub(lambda m: m["pre"] + (_hide_val(m["pw"], hide) if m["pw"] else "") + "@", text)
    text = _AUTH.sub(lambda m: m["pre"] + _hide_val(m["val"], hide), text)
    text = _BEARER.sub(lambda m: m["pre"] + _hide_val(m["val"], hide), text)

    def flag(m: re.Match[str]) -> str:
        if not is_secret_name(m["name"]):
            return m[0]
        return m[0][: m.start("val") - m.start()] + _hide_val(m["val"], hide)

    def assign(m: re.Match[str]) -> str:
        name = m["name"]
        if name.lower().endswith("authorization"):  # done by _AUTH, which keeps the scheme word
            return m[0]
        if not is_secret_name(name, strong=m.re is _COLON and not m["q"]):
            return m[0]
        return m[0][: m.start("val") - m.start()] + _hide_val(m["val"], hide)

    text = _FLAG.sub(flag, text)
    text = _ASSIGN.sub(assign, text)
    text = _COLON.sub(assign, text)
    if _MYSQL.search(context):
        text = _DASH_P.sub(lambda m: "-p" + _hide_val(m["val"], hide), text)
    if _REDIS.search(context):
        text = _DASH_A.sub(lambda m: m[0][: m.start("val") - m.start()] + _hide_val(m["val"], hide), text)
    if _CURL.search(context):
        text = _CURL_USER.sub(lambda m: m["pre"] + _hide_val(m["val"], hide), text)
    return _TOKEN.sub(lambda m: hide(m[0]), text)


def mask_text(text: str) -> str:
    """Free text (a log line, a shell command, healthcheck output) with every inline rule applied.

    Known values are not involved: use a :class:`Masker` for those.
    """
    return _mask_text(text, _hider(None))


def _mask_argv(argv: Sequence[str], hide: Hide) -> list[str]:
    context = " ".join(argv)
    redis, curl = bool(_REDIS.search(context)), bool(_CURL.search(context))
    out: list[str] = []
    pending: Callable[[str], str] | None = None

    def whole(value: str) -> str:
        return _hide_val(value, hide)

    def after_colon(value: str) -> str:
        user, colon, password = value.partition(":")
        return f"{user}:{_hide_val(password, hide)}" if colon and password else value

    for arg in argv:
        if pending is not None and not arg.startswith("-"):
            out.append(pending(arg))
            pending = None
            continue
        pending = None
        out.append(hide(arg) if _is_blob(arg) else _mask_text(arg, hide, context))
        if (re.fullmatch(r"--?[A-Za-z][\w.-]*", arg) and is_secret_name(arg)) or (arg == "-a" and redis):
            pending = whole
        elif arg in ("-u", "--user") and curl:
            pending = after_colon
    return out


def mask_argv(argv: Sequence[str]) -> list[str]:
    """An argv list (compose ``command``, ``entrypoint``, ``healthcheck.test``) with secrets masked.

    Handles ``--password x`` across two elements, ``-pSECRET`` when a MySQL/MariaDB client is in the
    argv, ``redis-cli -a x``, ``curl -u user:pw`` and whole-element tokens.
    """
    return _mask_argv([str(a) for a in argv], _hider(None))


def mask_command(command: str | Sequence[str] | None) -> Any:
    """A command as a string (masked as text) or a list (masked as argv); ``None`` stays ``None``."""
    if command is None:
        return None
    if isinstance(command, str):
        return mask_text(command)
    return mask_argv(command)


def _mask_scalar(value: str, hide: Hide) -> str:
    return hide(value) if _is_blob(value) else _mask_text(value, hide)


def _mask_env_value(name: str, value: Any, hide: Hide) -> Any:
    if value is None or value == "" or isinstance(value, bool):
        return value
    if is_secret_name(name):
        return hide(str(value))
    return _mask_scalar(value, hide) if isinstance(value, str) else value


def mask_env_value(name: str, value: Any) -> Any:
    """The value of variable ``name`` as it may be shown: :data:`MASK` for a secret name, else value rules."""
    return _mask_env_value(name, value, _hider(None))


def _mask_env(env: Any, hide: Hide) -> Any:
    if isinstance(env, Mapping):
        return {k: _mask_env_value(str(k), v, hide) for k, v in env.items()}
    if isinstance(env, (list, tuple)):
        out: list[Any] = []
        for item in env:
            if isinstance(item, str) and "=" in item:
                name, _, value = item.partition("=")
                out.append(f"{name}={_mask_env_value(name, value, hide)}")
            else:
                out.append(_mask_scalar(item, hide) if isinstance(item, str) else item)
        return out
    return _walk(env, "", hide)


def mask_env(env: Mapping[str, Any] | Sequence[Any]) -> Any:
    """An environment (or build args, or labels) as a mapping or a ``KEY=value`` list, masked."""
    return _mask_env(env, _hider(None))


# ------------------------------------------------------------------------------ structured configs
_ENV_KEYS = frozenset({"environment", "args", "labels", "annotations"})
_COMMAND_KEYS = frozenset({"command", "entrypoint", "test"})


def _walk(value: Any, key: str, hide: Hide) -> Any:
    if isinstance(value, Mapping):
        if key in _ENV_KEYS:
            return _mask_env(value, hide)
        if key == "secrets":  # definitions: name -> {file | environment | content}; only content is secret
            return {
                k: {n: (hide(str(v)) if n == "content" and v else _walk(v, n, hide)) for n, v in d.items()}
                if isinstance(d, Mapping)
                else _walk(d, "", hide)
                for k, d in value.items()
            }
        return {k: _walk(v, str(k), hide) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if key in _ENV_KEYS:
            return _mask_env(value, hide)
        if key in _COMMAND_KEYS and all(isinstance(v, str) for v in value):
            return _mask_argv(value, hide)
        inherit = "" if key == "secrets" else key  # a service's secrets: names of definitions
        return [_walk(v, inherit, hide) for v in value]
    if key and key != "secrets" and value not in (None, "") and not isinstance(value, bool) and is_secret_name(key):
        return hide(str(value))
    if isinstance(value, str):
        return _mask_text(value, hide) if key in _COMMAND_KEYS else _mask_scalar(value, hide)
    return value


def secret_values(config: Any) -> frozenset[str]:
    """Every secret value the rules find in a compose config (or any JSON-like data), for a :class:`Masker`."""
    found: list[str] = []
    _walk(config, "", _hider(found))
    return frozenset(found)


# Values of secret-named flags (``MYSQL_RANDOM_ROOT_PASSWORD=true``) that are no secret anywhere else.
_NOT_KNOWN = frozenset({"true", "false", "yes", "none", "null", "off"})


class Masker:
    """Masks known secret values wherever they appear, then applies the inline rules of :func:`mask_text`.

    Build one per compose project with :meth:`from_config` (``stack.model.raw``), then call it on
    each line of output. Values shorter than :data:`MIN_SECRET_LEN` are not matched as known
    values; each line of a multi-line value (a PEM key) is matched on its own too.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        known: set[str] = set()
        for value in values:
            for part in (value, *(line.strip() for line in str(value).splitlines())):
                if len(part) >= MIN_SECRET_LEN and MASK not in part and part.lower() not in _NOT_KNOWN:
                    known.add(part)
        self.values: tuple[str, ...] = tuple(sorted(known, key=lambda s: (-len(s), s)))
        self._known = re.compile("|".join(map(re.escape, self.values))) if self.values else None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Masker:
        """A masker knowing the secrets of a ``docker compose config`` document."""
        return cls(secret_values(config) if config else ())

    def __call__(self, text: str) -> str:
        if self._known is not None and text:
            text = self._known.sub(MASK, text)
        return mask_text(text)

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self(text)

    def lines(self, lines: Iterable[str]) -> tuple[str, ...]:
        return tuple(self(line) for line in lines)

    def config(self, data: Any) -> Any:
        """``data`` (a compose config or any JSON-like value) with the structured rules and known values applied."""
        masked = _walk(data, "", _hider(None))
        return self._known_in(masked) if self._known is not None else masked

    def _known_in(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: self._known_in(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self._known_in(v) for v in data]
        if isinstance(data, str) and self._known is not None:
            return self._known.sub(MASK, data)
        return data


def mask_config(config: Any) -> Any:
    """A masked copy of a compose config (``docker compose config`` JSON) or any JSON-like value.

    Environment (map or list), build args, labels, command / entrypoint / healthcheck test (string
    or list), inline secret ``content``, secret-named keys anywhere, then the known values found
    by those rules wherever else they appear. The input is not modified.
    """
    return Masker.from_config(config if isinstance(config, Mapping) else {"": config}).config(config)
