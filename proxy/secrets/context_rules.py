"""Rules that read a secret's surroundings: private key blocks, URLs with a password, and values assigned to a
sensitive name (`password = "…"`, `"apiKey": "…"`, `DB_PASSWORD=…`, `secret: …`).

They complement the vendor formats of `proxy.secrets.rules`: a database password or a self-made token has no
prefix of its own, so it is found by the name it is given and by how random it looks.
"""

from __future__ import annotations

import re
from typing import Final

from . import checks
from .rules import Rule, Span

# --- private key blocks -----------------------------------------------------------------------------------------

# The body is base64 lines, or lines joined by a literal "\n" when the key sits inside a JSON string (a cloud
# service account file pasted into the prompt), plus the header lines of encrypted PEM and PGP blocks. The
# possessive repeat never backtracks, so a header followed by anything else fails at once.
_KEY_BLOCK: Final = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
    r"(?P<body>(?:[A-Za-z0-9+/=\s]|\\[nr]|(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset):[^\n\\]{0,200})*+)"
    r"(?:-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----)?"
)
_KEY_MATERIAL: Final = re.compile(r"[A-Za-z0-9+/]{16}")


def _private_key(text: str, at: int) -> Span | None:
    found = _KEY_BLOCK.match(text, at)
    if found is None:
        return None
    # "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END" in docs holds no key material.
    body = found.group("body").replace("\\n", "\n")
    if sum(len(run) for run in _KEY_MATERIAL.findall(body)) < 64:
        return None
    return found.span()


PRIVATE_KEY: Final = Rule("private-key", "private key", ("-----BEGIN ",), _private_key)

# --- URLs with a password ---------------------------------------------------------------------------------------

DATABASE_SCHEMES: Final = frozenset(
    {
        "postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv", "redis", "rediss", "amqp", "amqps",
        "mssql", "sqlserver", "oracle", "clickhouse", "cockroachdb", "couchdb", "neo4j", "cassandra", "db2",
        "snowflake", "memcached", "elasticsearch", "influxdb", "jdbc:postgresql", "jdbc:mysql",
    }
)  # fmt: skip
_SCHEME_TAIL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-:]{0,40}\Z")
_USERINFO: Final = re.compile(r"//[^\s:/@?#\"'<>`]{0,128}:(?P<secret>[^\s/@?#\"'<>`,;:]{3,256})@(?=[A-Za-z0-9\[])")
_URL_STAND_INS: Final = frozenset({"password", "passwd", "pass", "pwd", "secret", "pw", "token", "mypassword"})


def _scheme(text: str, at: int) -> str:
    head = text[max(0, at - 41) : at]
    found = _SCHEME_TAIL.search(head)
    return found.group().lower() if found else ""


def _url_password(text: str, at: int, *, database: bool = False) -> Span | None:
    found = _USERINFO.match(text, at + 1)
    if found is None or not _scheme(text, at):
        return None
    secret = found.group("secret")
    if secret.lower() in _URL_STAND_INS or checks.stand_in(secret) or len(set(secret)) < 3:
        return None
    # Outside a database URL, user:password@ is as often an example in docs (http://user:pass@host) as a real
    # credential: only one that looks random counts.
    if not database and (len(secret) < 8 or "%20" in secret or not checks.mixed(secret)):
        return None
    return found.span("secret")


def _database_url_password(text: str, at: int) -> Span | None:
    scheme = _scheme(text, at).partition("+")[0]
    if scheme not in DATABASE_SCHEMES and f"{scheme}+srv" not in DATABASE_SCHEMES:
        return None
    return _url_password(text, at, database=True)


_URL_GATE: Final = r"(?=[^\s:/@]{0,128}:[^\s/@]{3,256}@)"
DATABASE_URL: Final = Rule(
    "database-url-password", "database URL password", ("://",), _database_url_password, _URL_GATE
)
URL_PASSWORD: Final = Rule("url-password", "URL password", ("://",), _url_password, _URL_GATE)

# --- values assigned to sensitive names -------------------------------------------------------------------------

# A quick test on the lower-cased name before splitting it into words.
_KEYWORD: Final = re.compile(r"pass|pwd|secret|token|key|credential")
_WORDS: Final = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
# The name must end with one of these words (DB_PASSWORD, apiToken, client-secret), or with "key" after one of
# _KEY_QUALIFIERS (apiKey, AWS_SECRET_ACCESS_KEY): a name that ends otherwise (password_file, max_tokens,
# secret_name, tokenizer) holds something about a secret, not the secret.
_SECRET_WORDS: Final = frozenset(
    {"password", "passwd", "passphrase", "pass", "pwd", "secret", "token", "apikey", "credential", "credentials"}
)
_KEY_QUALIFIERS: Final = frozenset(
    {"api", "access", "secret", "private", "auth", "signing", "session", "master", "encryption", "license"}
)
# A name, read backwards from the operator: `self.password`, `DB_PASSWORD`, `"api-key"`, `AWS::IAM::AccessKey`.
_NAME_REVERSED: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_BARE_VALUE: Final = re.compile(r"[^\s\"'`,;()\[\]{}<>]{12,200}(?![(\[])")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
# Words joined by separators, no digit: a name ("AWSSecretKey", "Access-Control-Allow-Credentials"), not a secret.
_WORDY: Final = re.compile(r"[A-Za-z]+(?:[-_.:/][A-Za-z]+)*")
_MAX_VALUE: Final = 200


def sensitive_name(name: str) -> bool:
    """`name` ends with a word that means a secret: password, secret, token, API key, access key…"""
    if not _KEYWORD.search(name.lower()):
        return False
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words:
        return False
    if words[-1] in _SECRET_WORDS:
        return True
    return words[-1] == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS


def _assignment(text: str, at: int) -> tuple[str, int, int] | None:
    """(name, value start, value end) of `name = value` / `name: value` with its operator at `at`."""
    head = text[max(0, at - 66) : at].rstrip(" \t\"']")[::-1]
    found = _NAME_REVERSED.match(head)
    if found is None:
        return None
    name = found.group()[::-1]
    if not sensitive_name(name):
        return None
    start = at + 1
    if text.startswith(("=", ">"), start):
        start += 1
    while start < len(text) and start <= at + 5 and text[start] in " \t":
        start += 1
    quote = text[start : start + 1]
    if quote and quote in "\"'`":
        end = text.find(quote, start + 1, start + _MAX_VALUE + 2)
        if end < 0:
            return None
        start += 1
    else:
        # `secretsmanager:GetSecretValue` and `arn:…:secret:x` are names, not YAML: a YAML value follows ": ".
        if text[at] == ":" and start == at + 1:
            return None
        bare = _BARE_VALUE.match(text, start)
        if bare is None or _identifier_like(bare.group()):
            return None
        end = bare.end()
        if text[at] == ":" and text.startswith(",", end):
            return None  # `private_key: KeyType,` is a parameter's annotation

    return name.lower(), start, end


def _identifier_like(value: str) -> bool:
    """A bare value that names something (a variable, a type, a dotted path) rather than being a password; one
    with digits among mixed-case letters (Secr3tPassw0rd) still counts as a password."""
    if not _IDENTIFIER.fullmatch(value):
        return False
    return "_" in value or "." in value or not checks.mixed(value, classes=3)


def _plausible(value: str) -> bool:
    if not 8 <= len(value) <= _MAX_VALUE or any(c.isspace() for c in value) or "REDACTED" in value.upper():
        return False
    if checks.stand_in(value) or _WORDY.fullmatch(value) or value[0] in "[^(\\":
        return False
    if _HEX.fullmatch(value):
        # Hex is how ids and digests are written; a hex key is long.
        return len(value) >= 32 and checks.random_enough(value, minimum=3.0)
    classes = 3 if len(value) < 12 else 2
    return checks.mixed(value, classes=classes) and checks.random_enough(value, minimum=3.0)


def _assigned_secret(text: str, at: int) -> Span | None:
    found = _assignment(text, at)
    if found is None:
        return None
    _, start, end = found
    return (start, end) if _plausible(text[start:end]) else None


_AWS_SECRET: Final = re.compile(r"[A-Za-z0-9/+]{40}")
_AWS_SECRET_AFTER: Final = re.compile(r".>?[ \t]{0,3}[\"'`]?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")


def _aws_secret(text: str, at: int) -> Span | None:
    if _AWS_SECRET_AFTER.match(text, at) is None:
        return None
    found = _assignment(text, at)
    if found is None:
        return None
    name, start, end = found
    compact = name.replace("_", "").replace("-", "").replace(".", "")
    if "secretaccesskey" not in compact and "awssecret" not in compact:
        return None
    value = text[start:end]
    return (start, end) if _AWS_SECRET.fullmatch(value) and checks.random_enough(value, minimum=4.0) else None


_QUOTED_OR_BARE: Final = r"(?:[\"'`][^\"'`\s]{8}|[^\s\"'`(),;\[\]{}<>=:]{12})"
_ASSIGN_GATES: Final = {"=": rf"(?=>?[ \t]{{0,3}}{_QUOTED_OR_BARE})", ":": rf"(?==?[ \t]{{0,3}}{_QUOTED_OR_BARE})"}

AWS_SECRET_KEY: Final = tuple(
    Rule("aws-secret-access-key", "AWS secret access key", (op,), _aws_secret, gate)
    for op, gate in _ASSIGN_GATES.items()
)
ASSIGNED_SECRET: Final = tuple(
    Rule("assigned-secret", "secret assigned to a sensitive name", (op,), _assigned_secret, gate)
    for op, gate in _ASSIGN_GATES.items()
)

CONTEXT_RULES: Final = (PRIVATE_KEY, DATABASE_URL, URL_PASSWORD, *AWS_SECRET_KEY, *ASSIGNED_SECRET)
