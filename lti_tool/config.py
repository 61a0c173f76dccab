"""Default settings. Every value can be overridden from the environment as
``LTI_TOOL_<NAME>`` (see ``config/settings.env.example``); secrets have no default here."""

from __future__ import annotations

from datetime import timedelta


class DefaultConfig:
    # Public base URL the tool is reached at, e.g. https://aiu.example.ac.uk (no trailing slash).
    BASE_URL = "http://localhost:5000"
    SQLALCHEMY_DATABASE_URI = "sqlite:///aiu.sqlite"  # relative to the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, object] = {"pool_pre_ping": True}
    KEYS_DIR = "keys"
    # Local testing only: http URLs and loopback/private platforms allowed.
    ALLOW_INSECURE = False
    # Enables the built-in demo platform (refused unless ALLOW_INSECURE and a loopback BASE_URL).
    DEMO = False
    # Redis for shared state, nonces, sessions and caches across hosts; the database otherwise.
    REDIS_URL: str | None = None

    # Requests larger than this are refused with 413 (an id_token is a few KB).
    MAX_CONTENT_LENGTH = 256 * 1024
    # Seconds of clock skew tolerated on exp/iat (Moodle's id_tokens live 60 s).
    LAUNCH_LEEWAY = 5
    # How long a login's state/nonce wait for the launch.
    LOGIN_STATE_TTL = 300
    # How long the platform's JWKS is trusted before it is fetched again.
    JWKS_CACHE_TTL = 24 * 3600
    # Minimum seconds between refetches of a platform's JWKS triggered by an unknown kid.
    JWKS_REFETCH_MIN_INTERVAL = 10
    # Outbound HTTP to platforms (OpenID configuration, JWKS, services).
    HTTP_TIMEOUT = 5.0
    HTTP_MAX_BYTES = 512 * 1024
    # Lifetime of a Dynamic Registration URL minted by an admin.
    REGISTRATION_URL_TTL = 24 * 3600
    TOOL_NAME = "AIU — Learner AI Usage"
    TOOL_DESCRIPTION = (
        "Puts the Learner AI Usage Policy to work inside the assignment page: "
        "declarations, AI-tool authorisations and incidents."
    )

    # Server-side session cookie; attributes are set in create_app from BASE_URL.
    SESSION_COOKIE_NAME = "aiu_session"
    SESSION_COOKIE_HTTPONLY = True
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    # Hours a course role (and a Moodle site administrator's standing) counts after Moodle
    # last confirmed it by a launch or a Names and Roles refresh; a refresh that no longer
    # lists the person ends it at once.
    COURSE_ROLE_MAX_AGE_HOURS = 8.0
    LOGIN_COOKIE_NAME = "aiu_login"

    WTF_CSRF_TIME_LIMIT = None  # tied to the session's lifetime instead

    # Security headers (lti_tool/security_headers.py). Seconds a process keeps the platforms'
    # origins for frame-ancestors before reading them again (its own changes apply at once).
    FRAME_ANCESTORS_CACHE_SECONDS = 30
    # Strict-Transport-Security max-age, sent when BASE_URL is https.
    HSTS_MAX_AGE = 365 * 24 * 3600

    # Rate limits per client (lti_tool/rate_limits.py), in Flask-Limiter's notation
    # ("N per second; M per minute"). A client is its IP address (as seen through
    # PROXY_COUNT proxies); form posts count per signed-in session. Stored in Redis when
    # REDIS_URL is set, in each process's memory otherwise.
    RATE_LIMITS_ENABLED = True
    RATE_LIMIT_LOGIN = "30 per second; 600 per minute"
    RATE_LIMIT_LAUNCH = "30 per second; 600 per minute"
    RATE_LIMIT_REGISTRATION = "10 per minute"
    RATE_LIMIT_ANSWER_LINK = "20 per minute"
    RATE_LIMIT_FORM_POST = "60 per minute"
    # Sign-ins waiting for their launch kept per client; older ones are dropped first.
    LOGIN_STATES_PER_CLIENT = 500

    # Outbox: calls to Moodle and emails, delivered by `flask worker` and right after the
    # request that queued them (set to false when a worker runs beside gunicorn).
    OUTBOX_DELIVER_AFTER_REQUEST = True
    OUTBOX_MAX_ATTEMPTS = 12
    OUTBOX_LEASE_SECONDS = 120
    WORKER_POLL_SECONDS = 5.0

    # How learners reach the ALS team, shown wherever the tool says "contact the ALS team"
    # (any that are set: an email address, a phone number, a web page).
    ALS_CONTACT_EMAIL = ""
    ALS_CONTACT_PHONE = ""
    ALS_CONTACT_URL = ""

    # The centre named in the report to the awarding body (the JCQ M1 form's header): its
    # name, its number with the awarding body, and who the awarding body should contact.
    CENTRE_NAME = "Leep Talent"
    CENTRE_NUMBER = ""
    CENTRE_CONTACT_NAME = ""
    CENTRE_CONTACT_EMAIL = ""
    CENTRE_CONTACT_PHONE = ""

    # Email (SMTP).
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_FROM = "AIU <aiu@localhost>"
    MAIL_TIMEOUT = 10.0
    MAIL_MESSAGE_ID_DOMAIN = "aiu.localhost"

    # Incidents (the policy's "Misuse of AI"). The AI-checking systems IT has authorised on
    # behalf of CIPD and CMI (a JSON list in the environment); a result from one of them is
    # recorded as one piece of evidence needing the marker's judgement, never as a verdict.
    AI_CHECKERS: list[str] = ["Turnitin AI writing detection"]
    # Hours after the question email before an unanswered learner is reminded (once).
    INCIDENT_REMINDER_HOURS = 72
    # Hours an emailed answer link stays valid (each link works once).
    INCIDENT_ANSWER_LINK_HOURS = 14 * 24
    # Largest evidence file accepted (only the evidence upload pages accept more than
    # MAX_CONTENT_LENGTH; every other page, the launch included, keeps that limit).
    INCIDENT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024
