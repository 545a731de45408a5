"""Synthetic credentials for the tests, built at run time from parts: random bodies in each vendor's documented
shape (with the checksum where the format has one). None of them is, or was, a real key, and no whole key is
written in the source: prefixes are split so that the file itself holds nothing a scanner would report.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import string
from dataclasses import dataclass

from proxy.secrets.checks import base62_encode

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Sample:
    rule: str
    secret: str
    text: str  # the secret in a line of context, as a developer would paste it


def _join(*parts: str) -> str:
    return "".join(parts)


def samples(seed: int = 7) -> list[Sample]:
    rng = random.Random(seed)

    def r(n: int, alphabet: str = ALNUM) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    def checksummed(prefix: str) -> str:
        body = r(30)
        return prefix + body + base62_encode(binascii.crc32(body.encode()), 6)

    def b64url(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    pem_body = "\n".join(r(64, B64) for _ in range(6))
    out = [
        ("aws-access-key-id", _join("AK", "IA", r(16, string.ascii_uppercase + "234567")), "aws_access_key_id = {}"),
        ("github-pat", checksummed(_join("gh", "p_")), "git clone https://{}@github.com/acme/api.git"),
        ("github-oauth", checksummed(_join("gh", "o_")), "Authorization: token {}"),
        ("github-app-token", checksummed(_join("gh", "s_")), "GH_TOKEN={} gh api /repos"),
        ("github-fine-grained-pat", _join("github", "_pat_", r(22), "_", r(59)), "export GH={}"),
        ("gitlab-token", _join("gl", "pat-", r(20, URLSAFE)), "PRIVATE-TOKEN: {}"),
        ("anthropic-api-key", _join("sk-", "ant-api03-", r(93, URLSAFE), "AA"), "client = Anthropic(api_key='{}')"),
        ("openrouter-api-key", _join("sk-", "or-v1-", r(64, HEX)), "OPENROUTER={}"),
        ("openai-api-key", _join("sk-", "proj-", r(74, URLSAFE), "T3Blbk", "FJ", r(74, URLSAFE)), "key: {}"),
        ("sk-api-key", _join("sk", "-", r(32, HEX)), 'deepseek = OpenAI(api_key="{}")'),
        ("slack-token", _join("xo", "xb-", r(12, string.digits), "-", r(13, string.digits), "-", r(24)), "SLACK {}"),
        (
            "slack-app-token",
            _join(
                "xa", "pp-1-", r(11, string.ascii_uppercase + string.digits), "-", r(13, string.digits), "-", r(64, HEX)
            ),
            "app token {}",
        ),
        (
            "slack-webhook",
            _join("services/T", r(10, "ABCDEFGHIJ0123456789"), "/B", r(10), "/", r(24)),
            "https://hooks.slack.com/{}",
        ),
        ("stripe-secret-key", _join("sk", "_live_", r(24)), "stripe.api_key = '{}'"),
        ("stripe-webhook-secret", _join("wh", "sec_", r(32)), "endpoint_secret = {}"),
        ("google-api-key", _join("AI", "za", r(35, URLSAFE)), "?key={}&q=1"),
        ("google-oauth-secret", _join("GOC", "SPX-", r(28, URLSAFE)), "client_secret {}"),
        ("google-oauth-token", _join("ya", "29.", r(60, URLSAFE)), "curl -H 'x: {}'"),
        ("azure-storage-key", r(86, B64) + "==", "DefaultEndpointsProtocol=https;AccountName=acme;Account" + "Key={};"),
        ("azure-client-secret", _join(r(3), "8", "Q~", r(34, URLSAFE + ".~")), "AZURE_CLIENT_SECRET {}"),
        ("twilio-api-key", _join("S", "K", r(32, HEX)), "twilio key {}"),
        ("sendgrid-api-key", _join("S", "G.", r(22, URLSAFE), ".", r(43, URLSAFE)), "SENDGRID {}"),
        ("npm-token", checksummed(_join("np", "m_")), "//registry.npmjs.org/:_authToken={}"),
        ("pypi-token", _join("py", "pi-AgEIcHlwaS5vcmc", r(120, URLSAFE)), "password = {}"),
        ("huggingface-token", _join("h", "f_", r(34, string.ascii_letters)), "huggingface-cli login --token {}"),
        (
            "jwt",
            _join(
                "ey",
                b64url({"alg": "HS256", "typ": "JWT"})[2:],
                ".",
                b64url({"sub": r(8), "iat": 1}),
                ".",
                r(43, URLSAFE),
            ),
            "Cookie: session={}",
        ),
        ("digitalocean-token", _join("do", "p_v1_", r(64, HEX)), "DO {}"),
        ("shopify-token", _join("sh", "pat_", r(32, HEX)), "X-Shopify-Access-Token: {}"),
        ("groq-api-key", _join("gs", "k_", r(52)), "GROQ {}"),
        ("replicate-token", _join("r", "8_", r(37)), "REPLICATE {}"),
        ("perplexity-api-key", _join("pp", "lx-", r(48)), "PPLX {}"),
        ("xai-api-key", _join("xa", "i-", r(80)), "XAI {}"),
        ("linear-api-key", _join("lin", "_api_", r(40)), "LINEAR {}"),
        ("postman-api-key", _join("PM", "AK-", r(24, HEX), "-", r(34, HEX)), "POSTMAN {}"),
        ("vault-token", _join("hv", "s.", r(90, URLSAFE)), "VAULT_TOKEN {}"),
        ("grafana-token", _join("gl", "sa_", r(32), "_", r(8, HEX)), "GRAFANA {}"),
        ("sentry-token", _join("sn", "trys_", r(120, B64)), "SENTRY {}"),
        ("newrelic-api-key", _join("NR", "AK-", r(27, string.ascii_uppercase + string.digits)), "NEWRELIC {}"),
        ("atlassian-api-token", _join("ATA", "TT3", r(180, URLSAFE)), "JIRA {}"),
        ("square-token", _join("sq0", "atp-", r(22, URLSAFE)), "SQUARE {}"),
        ("bearer-token", r(48, URLSAFE), "Authorization: Bear" + "er {}"),
        (
            "private-key",
            _join("-----BEGIN ", "RSA PRIVATE KEY-----\n", pem_body, "\n-----END RSA PRIVATE KEY-----"),
            "here is the key:\n{}\nthanks",
        ),
        ("database-url-password", r(18), "DATABASE_URL=postgresql+psycopg://app:{}@db.internal:5432/app"),
        ("url-password", r(18), "pip install --index-url https://ci:{}@pypi.acme.dev/simple acme"),
        ("aws-secret-access-key", r(40, B64), "aws_secret_access_key = {}"),
        ("assigned-secret", r(20), 'DB_PASSWORD="{}"'),
    ]
    return [Sample(rule, secret, template.format(secret)) for rule, secret, template in out]


def more_assignments(seed: int = 11) -> list[Sample]:
    """Values assigned to sensitive names in the syntaxes assistants see: Python, JSON, YAML, .env, shell."""
    rng = random.Random(seed)
    value = "".join(rng.choice(ALNUM) for _ in range(18)) + "7aZ"
    texts = [
        f'password = "{value}"',
        f'"apiKey": "{value}",',
        f"client_secret: {value}",
        f"export API_TOKEN={value}",
        f"self.secret_key = '{value}'",
        f"$password = '{value}';",
        f'auth_token := "{value}"',
        f'{{"db_password": "{value}"}}',
    ]
    return [Sample("assigned-secret", value, text) for text in texts]
