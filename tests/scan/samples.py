"""A synthetic positive and negative sample for every rule in rules/secrets.toml.

The values are made up here, from a seeded generator and fragments joined at
run time, so no credential-shaped literal sits in the source (and no push
protection or scanner trips over this file). Each sample: (text, file path).
"""

import random
import string

_random = random.Random(20261125)
UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def fake(alphabet: str, length: int) -> str:
    """A random string (from the seeded generator): the body of a made-up credential."""
    return "".join(_random.choice(alphabet) for _ in range(length))


def uuid() -> str:
    return "-".join(fake(HEX, n) for n in (8, 4, 4, 4, 12))


def _digits(length: int) -> str:
    return str(_random.randint(1, 9)) + fake(string.digits, length - 1)


PEM_BODY = fake(B64, 64)
Sample = tuple[str, str]

SAMPLES: dict[str, tuple[Sample, Sample]] = {
    "aws-access-key-id": (
        (f'key_id = "{"AK" + "IA"}{fake(UPPER_DIGITS, 16)}"', "deploy.py"),
        (f'key_id = "{"AK" + "IA"}{fake(UPPER_DIGITS, 15)}"', "deploy.py"),
    ),
    "aws-secret-access-key": (
        (f"aws_secret_access_key = {fake(B64, 40)}", "credentials"),
        (f"aws_secret_access_key = {fake(B64, 39)}", "credentials"),
    ),
    "gcp-service-account": (
        (f'  "private_key_id": "{fake(HEX, 40)}",', "sa.json"),
        (f'  "private_key_id": "{fake(HEX, 39)}",', "sa.json"),
    ),
    "google-api-key": (
        (f"maps_key: {'AI' + 'za'}{fake(URLSAFE, 35)}", "app.yaml"),
        (f"maps_key: {'AI' + 'za'}{fake(URLSAFE, 30)}", "app.yaml"),
    ),
    "google-oauth-client-secret": (
        (f"client: {'GOC' + 'SPX-'}{fake(URLSAFE, 28)}", "oauth.yaml"),
        (f"client: {'GOC' + 'SPX-'}{fake(URLSAFE, 20)}", "oauth.yaml"),
    ),
    "azure-storage-account-key": (
        (f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={fake(B64, 86)}==;", "a.cfg"),
        (f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={fake(B64, 40)}==;", "a.cfg"),
    ),
    "azure-ad-client-secret": (
        (f"AZURE_CLIENT = {fake(ALNUM, 3)}8{'Q~'}{fake(ALNUM, 34)}", "azure.sh"),
        (f"AZURE_CLIENT = {fake(ALNUM, 3)}x{'Q~'}{fake(ALNUM, 34)}", "azure.sh"),
    ),
    "digitalocean-token": (
        (f"DO = {'dop' + '_v1_'}{fake(HEX, 64)}", "do.env"),
        (f"DO = {'dop' + '_v1_'}{fake(HEX, 40)}", "do.env"),
    ),
    "heroku-api-key": (
        (f'HEROKU_API_KEY = "{uuid()}"', "heroku.py"),
        (f'REQUEST_ID = "{uuid()}"', "heroku.py"),
    ),
    "hashicorp-vault-token": (
        (f"VAULT = {'hv' + 's.'}{fake(URLSAFE, 90)}", "vault.sh"),
        (f"VAULT = {'hv' + 's.'}{fake(URLSAFE, 10)}", "vault.sh"),
    ),
    "terraform-cloud-token": (
        (f"token = {fake(ALNUM, 14)}.atlas{'v1.'}{fake(URLSAFE, 67)}", "tf.rc"),
        (f"token = {fake(ALNUM, 14)}.atlas{'v1.'}{fake(URLSAFE, 20)}", "tf.rc"),
    ),
    "databricks-token": (
        (f"DATABRICKS = {'da' + 'pi'}{fake(HEX, 32)}", "db.sh"),
        (f"DATABRICKS = {'da' + 'pi'}{fake(HEX, 20)}", "db.sh"),
    ),
    "pulumi-token": (
        (f"PULUMI = {'pu' + 'l-'}{fake(HEX, 40)}", "p.sh"),
        (f"PULUMI = {'pu' + 'l-'}{fake(HEX, 30)}", "p.sh"),
    ),
    "private-key": (
        (f"-----BEGIN EC {'PRIVATE'} KEY-----\n{PEM_BODY}\n-----END EC {'PRIVATE'} KEY-----", "k"),
        (f"-----BEGIN PUBLIC KEY-----\n{PEM_BODY}\n-----END PUBLIC KEY-----", "k.pub"),
    ),
    "age-secret-key": (
        (f"{'AGE-SECRET' + '-KEY-1'}{fake(BECH32, 58)}", "key.txt"),
        (f"# public key: age1{fake(BECH32.lower(), 58)}", "key.txt"),
    ),
    "htpasswd-hash": (
        (f"alice:{'$ap' + 'r1$'}{fake(ALNUM, 8)}${fake(ALNUM + './', 22)}", "htpasswd"),
        (f"alice:{'$ap' + 'r1$'}{fake(ALNUM, 8)}${fake(ALNUM, 10)}", "htpasswd"),
    ),
    "github-token": (
        (f"token: {'gh' + 'p_'}{fake(ALNUM, 36)}", "ci.yml"),
        (f"token: {'gh' + 'p_'}{fake(ALNUM, 20)}", "ci.yml"),
    ),
    "gitlab-token": (
        (f"GITLAB = {'glp' + 'at-'}{fake(URLSAFE, 20)}", "ci.sh"),
        (f"GITLAB = {'glp' + 'at-'}{fake(URLSAFE, 10)}", "ci.sh"),
    ),
    "npm-token": (
        (f"NPM = {'np' + 'm_'}{fake(ALNUM, 36)}", "ci.sh"),
        (f"NPM = {'np' + 'm_'}{fake(ALNUM, 20)}", "ci.sh"),
    ),
    "npmrc-auth-token": (
        (f"//registry.npmjs.org/:_authToken={uuid()}", ".npmrc"),
        (f"//registry.npmjs.org/:_authToken={uuid()}", "notes.txt"),
    ),
    "pypi-token": (
        (f"password = {'pypi-AgEI' + 'cHlwaS5vcmc'}{fake(URLSAFE, 60)}", ".pypirc"),
        (f"password = {'pypi-AgEI' + 'cHlwaS5vcmc'}{fake(URLSAFE, 20)}", ".pypirc"),
    ),
    "dockerhub-token": (
        (f"DOCKER = {'dckr' + '_pat_'}{fake(URLSAFE, 27)}", "ci.sh"),
        (f"DOCKER = {'dckr' + '_pat_'}{fake(URLSAFE, 15)}", "ci.sh"),
    ),
    "huggingface-token": (
        (f"HF = {'h' + 'f_'}{fake(string.ascii_letters, 34)}", "ml.sh"),
        (f"HF = {'h' + 'f_'}{fake(string.ascii_letters, 20)}", "ml.sh"),
    ),
    "slack-token": (
        (f"SLACK = {'xo' + 'xb-'}{_digits(12)}-{_digits(13)}-{fake(ALNUM, 24)}", "bot.sh"),
        (f"SLACK = {'xo' + 'xb-'}{fake(ALNUM, 5)}", "bot.sh"),
    ),
    "slack-webhook": (
        (
            f"url = https://hooks.slack.com/services/T{fake(UPPER_DIGITS, 8)}/"
            f"B{fake(UPPER_DIGITS, 10)}/{fake(ALNUM, 24)}",
            "notify.ini",
        ),
        ("url = https://hooks.slack.com/services/", "notify.ini"),
    ),
    "discord-bot-token": (
        (
            f'DISCORD_BOT = "M{fake(ALNUM, 25)}.{fake(URLSAFE, 6)}.{fake(URLSAFE, 27)}"',
            "bot.py",
        ),
        (f'BOT = "M{fake(ALNUM, 25)}.{fake(URLSAFE, 6)}.{fake(URLSAFE, 27)}"', "bot.py"),
    ),
    "discord-webhook": (
        (
            f"hook = https://discord.com/api/{'webhooks'}/{_digits(18)}/{fake(URLSAFE, 68)}",
            "hook.ini",
        ),
        (f"hook = https://discord.com/api/{'webhooks'}/{_digits(18)}/short", "hook.ini"),
    ),
    "telegram-bot-token": (
        (f"TELEGRAM = {_digits(10)}:AA{fake(URLSAFE, 33)}", "tg.sh"),
        (f"TELEGRAM = {_digits(10)}:AA{fake(URLSAFE, 10)}", "tg.sh"),
    ),
    "stripe-secret-key": (
        (f"STRIPE = {'sk' + '_live_'}{fake(ALNUM, 24)}", "pay.sh"),
        (f"STRIPE = {'sk' + '_live_'}{fake(ALNUM, 10)}", "pay.sh"),
    ),
    "stripe-restricted-key": (
        (f"STRIPE = {'rk' + '_live_'}{fake(ALNUM, 24)}", "pay.sh"),
        (f"STRIPE = {'rk' + '_live_'}{fake(ALNUM, 10)}", "pay.sh"),
    ),
    "stripe-webhook-secret": (
        (f"HOOK = {'wh' + 'sec_'}{fake(ALNUM, 32)}", "pay.sh"),
        (f"HOOK = {'wh' + 'sec_'}{fake(ALNUM, 12)}", "pay.sh"),
    ),
    "square-access-token": (
        (f"SQUARE = {'EA' + 'AA'}{fake(URLSAFE, 60)}", "pos.sh"),
        (f"SQUARE = {'EA' + 'AA'}{fake(URLSAFE, 10)}", "pos.sh"),
    ),
    "square-oauth-secret": (
        (f"SQUARE = {'sq0' + 'csp-'}{fake(URLSAFE, 43)}", "pos.sh"),
        (f"SQUARE = {'sq0' + 'csp-'}{fake(URLSAFE, 20)}", "pos.sh"),
    ),
    "shopify-token": (
        (f"SHOP = {'shp' + 'at_'}{fake(HEX, 32)}", "shop.sh"),
        (f"SHOP = {'shp' + 'at_'}{fake(HEX, 20)}", "shop.sh"),
    ),
    "sendgrid-api-key": (
        (f"MAIL = {'S' + 'G.'}{fake(URLSAFE, 22)}.{fake(URLSAFE, 43)}", "mail.sh"),
        (f"MAIL = {'S' + 'G.'}{fake(URLSAFE, 22)}.{fake(URLSAFE, 10)}", "mail.sh"),
    ),
    "twilio-api-key": (
        (f"TWILIO_KEY = 'SK{fake(HEX, 32)}'", "sms.py"),
        (f"KEY = 'SK{fake(HEX, 32)}'", "sms.py"),
    ),
    "twilio-auth-token": (
        (f'twilio_auth_token = "{fake(HEX, 32)}"', "sms.py"),
        (f'twilio_auth_token = "{fake(HEX, 20)}"', "sms.py"),
    ),
    "mailgun-api-key": (
        (f'MAILGUN = "key-{fake(HEX, 32)}"', "mail.py"),
        (f'HASH = "key-{fake(HEX, 32)}"', "mail.py"),
    ),
    "mailchimp-api-key": (
        (f"CHIMP = {fake(HEX, 32)}-us12", "news.sh"),
        (f"CHIMP = {fake(HEX, 32)}-eu12", "news.sh"),
    ),
    "datadog-api-key": (
        (f"DD_API_KEY={fake(HEX, 32)}", "agent.env"),
        (f"DD_API_KEY={fake(HEX, 20)}", "agent.env"),
    ),
    "openai-api-key": (
        (f"OPENAI = sk-proj-{fake(URLSAFE, 40)}{'T3Blbk' + 'FJ'}{fake(URLSAFE, 40)}", "ai.sh"),
        (f"OPENAI = sk-{fake(ALNUM, 48)}", "ai.sh"),
    ),
    "anthropic-api-key": (
        (f"CLAUDE = {'sk-ant' + '-api03-'}{fake(URLSAFE, 93)}AA", "ai.sh"),
        (f"CLAUDE = {'sk-ant' + '-api03-'}{fake(URLSAFE, 10)}", "ai.sh"),
    ),
    "linear-api-key": (
        (f"LINEAR = {'lin' + '_api_'}{fake(ALNUM, 40)}", "l.sh"),
        (f"LINEAR = {'lin' + '_api_'}{fake(ALNUM, 20)}", "l.sh"),
    ),
    "grafana-token": (
        (f"GRAFANA = {'gl' + 'sa_'}{fake(ALNUM, 32)}_{fake(HEX, 8)}", "g.sh"),
        (f"GRAFANA = {'gl' + 'sa_'}{fake(ALNUM, 10)}", "g.sh"),
    ),
    "jwt": (
        (
            f"Authorization: Bearer {'ey' + 'J'}{fake(URLSAFE, 30)}.{'ey' + 'J'}"
            f"{fake(URLSAFE, 40)}.{fake(URLSAFE, 43)}",
            "req.http",
        ),
        ("header = eyJhbGciOiJIUzI1NiJ9", "req.http"),
    ),
    "postgres-url": (
        (f"DATABASE_URL=postgresql://app:{fake(ALNUM, 16)}@db.internal:5432/app", "app.sh"),
        ("DATABASE_URL=postgresql://app@db.internal:5432/app", "app.sh"),
    ),
    "mysql-url": (
        (f"url = mysql://app:{fake(ALNUM, 16)}@db.internal/app", "app.sh"),
        ("url = mysql://app:password@db.internal/app", "app.sh"),
    ),
    "mongodb-url": (
        (f"url = mongodb+srv://app:{fake(ALNUM, 16)}@cluster0.internal/app", "app.sh"),
        ("url = mongodb+srv://cluster0.internal/app", "app.sh"),
    ),
    "redis-url": (
        (f"CACHE = redis://:{fake(ALNUM, 16)}@cache.internal:6379/0", "app.sh"),
        ("CACHE = redis://cache.internal:6379/0", "app.sh"),
    ),
    "amqp-url": (
        (f"BROKER = amqp://app:{fake(ALNUM, 16)}@mq.internal:5672//", "app.sh"),
        ("BROKER = amqp://guest:guest@localhost:5672//", "app.sh"),
    ),
    "basic-auth-url": (
        (f"git clone https://deploy:{fake(ALNUM, 14)}@git.internal/app.git", "deploy.sh"),
        ("git clone https://deploy@git.internal/app.git", "deploy.sh"),
    ),
    "password-assignment": (
        (f"password = {fake(ALNUM, 12)}", "config/app.ini"),
        ('password = "${DB_PASSWORD}"', "config/app.ini"),
    ),
    "generic-secret": (
        (f'API_KEY = "{fake(ALNUM, 32)}"', "app/settings.py"),
        ('api_key = os.environ["API_KEY"]', "app/settings.py"),
    ),
}
