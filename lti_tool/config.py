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
    # Rotating keys from the admin page: the new key is in the JWKS this long before it signs,
    # and the old one stays published at least KEY_ROTATION_OVERLAP_SECONDS after it stopped
    # signing (the README's hour) before another rotation may drop it.
    KEY_PUBLISH_AHEAD_SECONDS = 300
    KEY_ROTATION_OVERLAP_SECONDS = 3600
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
    # Seconds a process keeps a platform's or deployment's row for logins and launches
    # (platforms/cache.RowCache; its own changes apply at once). 0 reads them every time.
    REGISTRATION_CACHE_SECONDS = 30
    LOGIN_COOKIE_NAME = "aiu_login"

    WTF_CSRF_TIME_LIMIT = None  # tied to the session's lifetime instead

    # Security headers (lti_tool/security_headers.py). Seconds a process keeps the platforms'
    # origins for frame-ancestors before reading them again (its own changes apply at once).
    FRAME_ANCESTORS_CACHE_SECONDS = 30
    # Strict-Transport-Security max-age, sent when BASE_URL is https.
    HSTS_MAX_AGE = 365 * 24 * 3600

    # Rate limits per client (lti_tool/rate_limits.py), in the `limits` library's notation
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

    # Notifications: the hour (UTC) the daily digest goes out (for people who chose it), and
    # the minutes an emailed link waits for the launch it asked for when the session was gone.
    DIGEST_HOUR = 7
    OPEN_LINK_PENDING_MINUTES = 30
    # The policy (reference) a platform follows unless it names one (`flask policy use`):
    # its published version; when it has none, the most recently published policy.
    POLICY_DEFAULT_REFERENCE = "AIU"

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
    # behalf of the awarding bodies (a JSON list in the environment); a result from one of them is
    # recorded as one piece of evidence needing the marker's judgement, never as a verdict.
    AI_CHECKERS: list[str] = ["Turnitin AI writing detection"]
    # Hours after the question email before an unanswered learner is reminded (once).
    INCIDENT_REMINDER_HOURS = 72
    # Hours an emailed answer link stays valid (each link works once).
    INCIDENT_ANSWER_LINK_HOURS = 14 * 24
    # Days the read-only link to "My AI-use cases" in a decision or appeal email works.
    CASE_LINK_DAYS = 30
    # Largest evidence file accepted (only the evidence upload pages accept more than
    # MAX_CONTENT_LENGTH; every other page, the launch included, keeps that limit).
    INCIDENT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024

    # Evidence files: in the database (unset) or in this directory outside the checkout
    # (created 0700, files 0600). Disposal removes the file too.
    EVIDENCE_DIR: str | None = None

    # The audit chain's daily anchor (lti_tool/audit/anchors.py): an append-only file
    # outside the instance folder, and an address the same line is emailed to.
    AUDIT_ANCHOR_FILE: str | None = None
    AUDIT_ANCHOR_EMAIL = ""

    # Retention schedule (lti_tool/privacy/schedule.py): how long each kind of record is
    # kept after the moment its rule names, as "<n> years|days|hours". Set any of them in
    # the environment as JSON, e.g. LTI_TOOL_RETENTION='{"case_not_upheld": "2 years"}';
    # the ones not set keep these defaults.
    RETENTION: dict[str, str] = {}
    # Kinds of record an erasure request does not remove before their period ends (kept
    # for the awarding body and for legal claims); the learner is told so.
    RETENTION_KEPT_ON_ERASURE: list[str] = ["case_upheld", "case_reported"]

    # The privacy notice (/privacy). Empty values show the defaults of
    # lti_tool/privacy/notice.py; set them to your organisation's own.
    PRIVACY_CONTROLLER = ""
    PRIVACY_CONTACT = ""
    PRIVACY_DPO_CONTACT = ""
    PRIVACY_EXTRA = ""
