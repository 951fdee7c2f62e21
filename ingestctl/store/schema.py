"""The schema, as an ordered list of migrations; ``PRAGMA user_version`` counts those applied.

Each migration has its PostgreSQL step under the same name in :mod:`ingestctl.store.schema_pg`.

Never edit a released migration: append a new one, so older databases upgrade in place. A
migration is SQL or a function of a :class:`sqlite_utils.Database`: new tables, columns and
indexes use sqlite-utils (``create``, ``add_column``, ``create_index``); what it has no API for
stays SQL: ``WITHOUT ROWID`` tables, partial indexes, triggers and backfills.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

Migration = tuple[str, "str | Callable[[Database], None]"]

_JOBS = """
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_success_at TEXT,
    last_success_job_id INTEGER
);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id),
    import_key TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    items INTEGER NOT NULL DEFAULT 0,
    error_class TEXT,
    error_type TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    next_attempt_at TEXT,
    lease_owner TEXT,
    lease_expires_at TEXT,
    heartbeat_at TEXT,
    progress TEXT,
    result TEXT
);
CREATE UNIQUE INDEX jobs_one_active_per_import ON jobs(import_key)
    WHERE status IN ('pending', 'processing', 'retrying');
CREATE INDEX jobs_status_due ON jobs(status, next_attempt_at);
CREATE INDEX jobs_created ON jobs(created_at);
CREATE INDEX jobs_finished ON jobs(finished_at, source, status);
CREATE INDEX jobs_import ON jobs(import_id, id);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    number INTEGER NOT NULL,
    owner TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL,
    error_class TEXT,
    error_type TEXT,
    error_message TEXT,
    traceback TEXT,
    items INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    UNIQUE (job_id, number)
);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL UNIQUE REFERENCES jobs(id),
    active INTEGER NOT NULL DEFAULT 1,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    options TEXT NOT NULL,
    error_class TEXT NOT NULL,
    error_type TEXT,
    error_message TEXT,
    attempts INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    requeued_at TEXT,
    requeue_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX dead_letters_active ON dead_letters(active, created_at);
CREATE TABLE counters (
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (name, labels)
) WITHOUT ROWID
"""

_SITEMAPS = """
CREATE TABLE sitemap_files (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id),
    url TEXT NOT NULL,
    parent_url TEXT,
    depth INTEGER NOT NULL DEFAULT 0,
    kind TEXT,
    status TEXT NOT NULL,
    http_status INTEGER,
    etag TEXT,
    last_modified TEXT,
    bytes INTEGER NOT NULL DEFAULT 0,
    urls INTEGER NOT NULL DEFAULT 0,
    error_class TEXT,
    error_message TEXT,
    job_id INTEGER,
    fetched_at TEXT,
    UNIQUE (import_id, url)
);
CREATE TABLE sitemap_urls (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id),
    url TEXT NOT NULL,
    lastmod TEXT,
    changefreq TEXT,
    priority REAL,
    sitemap_url TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_job_id INTEGER,
    removed_at TEXT,
    UNIQUE (import_id, url)
)
"""

_GOOGLE = """
CREATE TABLE merchant_products (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id),
    name TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    content_language TEXT NOT NULL,
    feed_label TEXT NOT NULL,
    title TEXT,
    link TEXT,
    image_link TEXT,
    price_micros INTEGER,
    currency TEXT,
    availability TEXT,
    condition TEXT,
    brand TEXT,
    gtins TEXT NOT NULL DEFAULT '[]',
    issues TEXT NOT NULL DEFAULT '[]',
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_job_id INTEGER,
    UNIQUE (import_id, name)
);
CREATE INDEX merchant_products_job ON merchant_products(import_id, last_job_id);
CREATE TABLE search_analytics (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id),
    date TEXT NOT NULL,
    query TEXT NOT NULL,
    page TEXT NOT NULL,
    country TEXT NOT NULL,
    device TEXT NOT NULL,
    search_type TEXT NOT NULL,
    clicks REAL NOT NULL,
    impressions REAL NOT NULL,
    ctr REAL NOT NULL,
    position REAL NOT NULL,
    data_state TEXT NOT NULL,
    last_job_id INTEGER,
    UNIQUE (import_id, date, query, page, country, device, search_type)
);
CREATE INDEX search_analytics_state ON search_analytics(import_id, search_type, data_state, date);
CREATE INDEX search_analytics_job ON search_analytics(import_id, last_job_id);
CREATE TABLE google_tokens (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE quota_usage (
    api TEXT NOT NULL,
    scope TEXT NOT NULL,
    period TEXT NOT NULL,
    bucket TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (api, scope, period, bucket)
) WITHOUT ROWID;
CREATE TABLE quota_state (
    api TEXT NOT NULL,
    scope TEXT NOT NULL,
    minute_limit INTEGER NOT NULL DEFAULT 0,
    day_limit INTEGER NOT NULL DEFAULT 0,
    day_start TEXT,
    day_reset TEXT,
    last_request_at TEXT,
    last_status INTEGER,
    headers_at TEXT,
    retry_after REAL,
    ratelimit TEXT,
    ratelimit_policy TEXT,
    x_limit INTEGER,
    x_remaining INTEGER,
    x_reset TEXT,
    PRIMARY KEY (api, scope)
) WITHOUT ROWID;
CREATE TABLE merchant_quota_groups (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    usage INTEGER NOT NULL,
    daily_limit INTEGER NOT NULL,
    minute_limit INTEGER NOT NULL,
    methods TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (account, name)
) WITHOUT ROWID;
CREATE TABLE job_cursors (
    job_id INTEGER PRIMARY KEY REFERENCES jobs(id),
    cursor TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""

# Seconds a finished job took, from its first start to its finish (rounded to the millisecond:
# julianday arithmetic is only exact to ~20 us). Used by the trigger and the backfill below.
_JOB_SECONDS = ("max(0, coalesce(round((julianday({r}.finished_at) - "
                "julianday(coalesce({r}.started_at, {r}.created_at))) * 86400, 3), 0))")
# The bucket index in ingestctl.monitoring.metrics.DURATION_BUCKETS (1, 5, 15, 60, 300, 900,
# 1800, 3600, +Inf): a test checks the two agree. Kept here so the schema does not import
# prometheus_client.
_BUCKET = ("CASE WHEN {d} <= 1 THEN 0 WHEN {d} <= 5 THEN 1 WHEN {d} <= 15 THEN 2 "
           "WHEN {d} <= 60 THEN 3 WHEN {d} <= 300 THEN 4 WHEN {d} <= 900 THEN 5 "
           "WHEN {d} <= 1800 THEN 6 WHEN {d} <= 3600 THEN 7 ELSE 8 END")
_STATS_ROW = (f"SELECT NEW.source, NEW.status, {_BUCKET.format(d='d')}, 1, d, NEW.items "
              f"FROM (SELECT {_JOB_SECONDS.format(r='NEW')} AS d) WHERE true "
              "ON CONFLICT(source, status, bucket) DO UPDATE SET jobs = jobs + 1, "
              "seconds = seconds + excluded.seconds, items = items + excluded.items")

# Monitoring: `health`, `metrics` and `status` answer from indexes and from
# job_stats, a summary the store keeps by trigger whenever a job reaches completed or failed,
# so they stay fast on millions of jobs. job_stats only grows: it backs Prometheus counters.
# monitor_counts holds counts kept by trigger ('dead_letters_active').
# scheduler_state holds the scheduler daemon's heartbeat (key 'heartbeat', value and
# updated_at the ISO time) and may hold 'next_run:<import>' keys with ISO next run times.
_MONITORING = f"""
CREATE INDEX jobs_import_status_finished ON jobs(import_id, status, finished_at);
CREATE INDEX attempts_finished ON attempts(finished_at);
CREATE INDEX dead_letters_active_updated ON dead_letters(active, updated_at);
CREATE TABLE job_stats (
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    jobs INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0,
    items INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, status, bucket)
) WITHOUT ROWID;
INSERT INTO job_stats (source, status, bucket, jobs, seconds, items)
SELECT source, status, {_BUCKET.format(d='d')}, count(*), sum(d), sum(items)
FROM (SELECT source, status, items, {_JOB_SECONDS.format(r='jobs')} AS d FROM jobs
      WHERE status IN ('completed', 'failed'))
GROUP BY 1, 2, 3;
CREATE TRIGGER job_stats_finished AFTER UPDATE OF status ON jobs
WHEN NEW.status IN ('completed', 'failed') AND OLD.status IS NOT NEW.status
BEGIN INSERT INTO job_stats (source, status, bucket, jobs, seconds, items) {_STATS_ROW}; END;
CREATE TRIGGER job_stats_inserted AFTER INSERT ON jobs
WHEN NEW.status IN ('completed', 'failed')
BEGIN INSERT INTO job_stats (source, status, bucket, jobs, seconds, items) {_STATS_ROW}; END;
CREATE TABLE monitor_counts (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO monitor_counts (name, value)
SELECT 'dead_letters_active', count(*) FROM dead_letters WHERE active = 1;
CREATE TRIGGER dead_letters_active_inserted AFTER INSERT ON dead_letters WHEN NEW.active = 1
BEGIN UPDATE monitor_counts SET value = value + 1 WHERE name = 'dead_letters_active'; END;
CREATE TRIGGER dead_letters_active_changed AFTER UPDATE OF active ON dead_letters
WHEN OLD.active IS NOT NEW.active
BEGIN UPDATE monitor_counts SET value = value + (CASE WHEN NEW.active = 1 THEN 1 ELSE -1 END)
WHERE name = 'dead_letters_active'; END;
CREATE TRIGGER dead_letters_active_deleted AFTER DELETE ON dead_letters WHEN OLD.active = 1
BEGIN UPDATE monitor_counts SET value = value - 1 WHERE name = 'dead_letters_active'; END;
CREATE TABLE IF NOT EXISTS scheduler_state (
    key TEXT PRIMARY KEY,
    value TEXT,
    updated_at TEXT
) WITHOUT ROWID
"""

# IF NOT EXISTS: the monitoring branch may create scheduler_state too; either may land first.
_SCHEDULER = """
CREATE TABLE IF NOT EXISTS scheduler_state (
    key TEXT PRIMARY KEY,
    value TEXT,
    updated_at TEXT
);
CREATE TABLE IF NOT EXISTS schedule_slots (
    id INTEGER PRIMARY KEY,
    import_name TEXT NOT NULL,
    slot_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    run_at TEXT,
    job_id INTEGER,
    recorded_at TEXT NOT NULL,
    UNIQUE (import_name, slot_at)
);
CREATE INDEX IF NOT EXISTS schedule_slots_outcome ON schedule_slots(import_name, outcome, slot_at)
"""

_ALERTS = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject TEXT NOT NULL,
    alert_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_key ON alerts(key, id);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    channel TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_try_at TEXT,
    claimed_until TEXT,
    sent_at TEXT,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX IF NOT EXISTS alert_deliveries_waiting ON alert_deliveries(sent_at, channel)
"""

# URLs and their extension rows keyed by (import_id, url), WITHOUT ROWID: one b-tree each,
# and extension rows need no id lookup. file_id is the sitemap_files row that last listed the
# URL; the *_job_id columns say which job added, changed and removed it. No foreign keys on
# these hot tables (each would cost a lookup per row; only the importer writes them). The
# trigger gives extension rows replace-on-upsert semantics; its semicolons start lines
# because the migration runner splits statements at a semicolon that ends a line.
_SITEMAP_EXTENSIONS = """
CREATE TABLE sitemap_urls_v2 (
    import_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    lastmod TEXT,
    changefreq TEXT,
    priority REAL,
    file_id INTEGER,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_job_id INTEGER,
    added_job_id INTEGER,
    changed_job_id INTEGER,
    removed_at TEXT,
    removed_job_id INTEGER,
    PRIMARY KEY (import_id, url)
) WITHOUT ROWID;
INSERT INTO sitemap_urls_v2 (import_id, url, lastmod, changefreq, priority, file_id,
    first_seen, last_seen, last_job_id, added_job_id, removed_at)
    SELECT u.import_id, u.url, u.lastmod, u.changefreq, u.priority, f.id, u.first_seen,
    u.last_seen, u.last_job_id, u.last_job_id, u.removed_at FROM sitemap_urls u
    LEFT JOIN sitemap_files f ON f.import_id = u.import_id AND f.url = u.sitemap_url;
DROP TABLE sitemap_urls;
ALTER TABLE sitemap_urls_v2 RENAME TO sitemap_urls;
ALTER TABLE sitemap_files ADD COLUMN problems TEXT;
ALTER TABLE sitemap_files ADD COLUMN checked_at TEXT;
CREATE INDEX sitemap_files_parent ON sitemap_files(import_id, parent_url);
CREATE TABLE sitemap_images (
    import_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    position INTEGER NOT NULL,
    loc TEXT NOT NULL,
    title TEXT,
    caption TEXT,
    PRIMARY KEY (import_id, url, position)
) WITHOUT ROWID;
CREATE TABLE sitemap_videos (
    import_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    position INTEGER NOT NULL,
    title TEXT,
    content_loc TEXT,
    player_loc TEXT,
    thumbnail_loc TEXT,
    description TEXT,
    PRIMARY KEY (import_id, url, position)
) WITHOUT ROWID;
CREATE TABLE sitemap_news (
    import_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    publication_name TEXT,
    language TEXT,
    publication_date TEXT,
    title TEXT,
    PRIMARY KEY (import_id, url)
) WITHOUT ROWID;
CREATE TABLE sitemap_alternates (
    import_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    position INTEGER NOT NULL,
    hreflang TEXT,
    href TEXT NOT NULL,
    PRIMARY KEY (import_id, url, position)
) WITHOUT ROWID;
CREATE TRIGGER sitemap_urls_relisted AFTER UPDATE OF lastmod ON sitemap_urls
    BEGIN DELETE FROM sitemap_images WHERE import_id = old.import_id AND url = old.url
    ; DELETE FROM sitemap_videos WHERE import_id = old.import_id AND url = old.url
    ; DELETE FROM sitemap_news WHERE import_id = old.import_id AND url = old.url
    ; DELETE FROM sitemap_alternates WHERE import_id = old.import_id AND url = old.url
    ; END
"""

def _schedule_missed_index(db: Database) -> None:
    # health and status count missed slots of every import at once
    db.table("schedule_slots").create_index(["outcome", "slot_at"],
                                            index_name="schedule_slots_missed")


# Merchant: the attributes users query, per-destination status, the raw product and removal.
def _merchant_details(db: Database) -> None:
    products = db.table("merchant_products")
    for column, kind in (("data_source", str), ("description", str),
                         ("sale_price_micros", int), ("sale_currency", str),
                         ("item_group_id", str), ("mpn", str), ("creation_date", str),
                         ("last_update_date", str), ("google_expiration_date", str),
                         ("removed_at", str), ("removed_job_id", int)):
        products.add_column(column, kind)
    for column, empty in (("product_types", "[]"), ("custom_attributes", "[]"),
                          ("destination_statuses", "[]"), ("raw", "{}")):
        products.add_column(column, str, not_null_default=empty)


# Search Console: rows keyed by their dimension set (detail rows, property totals, search
# appearance) and the state of every (day, dimension set) loaded, so incremental runs fetch
# only the days not final yet. Existing rows are the five-dimension set.
_SEARCH_CONSOLE_SETS = """
CREATE TABLE search_analytics_sets (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id),
    search_type TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    date TEXT NOT NULL,
    query TEXT NOT NULL DEFAULT '',
    page TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    search_appearance TEXT NOT NULL DEFAULT '',
    clicks REAL NOT NULL,
    impressions REAL NOT NULL,
    ctr REAL NOT NULL,
    position REAL,
    data_state TEXT NOT NULL,
    last_job_id INTEGER,
    UNIQUE (import_id, search_type, dimensions, date, query, page, country, device,
            search_appearance)
);
INSERT INTO search_analytics_sets (import_id, search_type, dimensions, date, query, page,
    country, device, clicks, impressions, ctr, position, data_state, last_job_id)
    SELECT import_id, search_type, 'date,query,page,country,device', date, query, page,
    country, device, clicks, impressions, ctr, position, data_state, last_job_id
    FROM search_analytics;
DROP TABLE search_analytics;
ALTER TABLE search_analytics_sets RENAME TO search_analytics;
CREATE INDEX search_analytics_job ON search_analytics(import_id, last_job_id);
CREATE TABLE search_console_days (
    import_id INTEGER NOT NULL,
    search_type TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    date TEXT NOT NULL,
    data_state TEXT NOT NULL,
    rows INTEGER NOT NULL,
    job_id INTEGER,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (import_id, search_type, dimensions, date)
) WITHOUT ROWID;
INSERT INTO search_console_days (import_id, search_type, dimensions, date, data_state, rows,
    job_id, fetched_at)
    SELECT import_id, search_type, dimensions, date,
    CASE WHEN sum(data_state <> 'final') > 0 THEN 'all' ELSE 'final' END, count(*),
    max(last_job_id), '' FROM search_analytics GROUP BY import_id, search_type, dimensions, date
"""

# Circuit breakers of a PostgreSQL store, one row per key (the shape of breakers.json's
# entries); SQLite homes keep breakers.json and leave the table empty. On PostgreSQL the
# migration also adds the trigger that notifies idle workers of due jobs (schema_pg.py).
BREAKERS_TABLE = """
CREATE TABLE breakers (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    successes INTEGER NOT NULL DEFAULT 0,
    opened_at TEXT,
    open_until TEXT,
    probe_owner TEXT,
    probe_until TEXT,
    last_error_class TEXT,
    updated_at TEXT
) WITHOUT ROWID
"""

def _health_probe(db: Database) -> None:
    # the one row `health` writes and commits to prove the store writable (database:writable)
    db.create_table("health_probe", {"id": int, "written_at": str, "pid": int}, pk="id",
                    not_null={"written_at", "pid"})


def _sitemap_file_digest(db: Database) -> None:
    files = db.table("sitemap_files")
    for column in ("digest", "raw_digest", "summary", "redirects"):
        files.add_column(column, str)


# Read paths that survive ANALYZE. Jobs in an active state are a handful among millions, but
# sqlite_stat1 gives one average row count per status value, so after ANALYZE (or PRAGMA
# optimize) SQLite judged `status = 'processing'` to match a fifth of the table and scanned
# it. A partial index holds only its state's rows, and its own statistics say so; SQLite uses
# one only when the query's WHERE implies the index's condition literally (`status = ?` bound
# to the state does; an IN list must be the same list in the same order). Leading with status
# keeps the plans SEARCHes. jobs_status orders any state's jobs by id for `jobs list`;
# jobs_import_status finds an import's latest job in a state (without it, and without
# statistics, SQLite walked jobs_status back through every import's jobs); the dead-letter
# indexes serve `dlq list` and its filters.
_ACTIVE_JOB_INDEXES = """
CREATE INDEX jobs_processing ON jobs(status, lease_expires_at) WHERE status = 'processing';
CREATE INDEX jobs_retrying ON jobs(status, next_attempt_at) WHERE status = 'retrying';
CREATE INDEX jobs_pending ON jobs(status, created_at) WHERE status = 'pending';
CREATE INDEX jobs_queued ON jobs(status, next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX jobs_active ON jobs(status, source)
    WHERE status IN ('pending', 'processing', 'retrying');
CREATE INDEX jobs_status ON jobs(status, id);
CREATE INDEX jobs_import_status ON jobs(import_id, status, id);
CREATE INDEX dead_letters_active_id ON dead_letters(active, id);
CREATE INDEX dead_letters_active_source ON dead_letters(active, source, id);
CREATE INDEX dead_letters_active_class ON dead_letters(active, error_class, id)
"""


MIGRATIONS: list[Migration] = [
    ("jobs", _JOBS),
    ("sitemaps", _SITEMAPS),
    ("google", _GOOGLE),
    ("monitoring", _MONITORING),
    ("scheduler", _SCHEDULER),
    ("alerts", _ALERTS),
    ("sitemap_extensions", _SITEMAP_EXTENSIONS),
    ("schedule_missed_index", _schedule_missed_index),
    ("merchant_details", _merchant_details),
    ("search_console_sets", _SEARCH_CONSOLE_SETS),
    ("scale_out", BREAKERS_TABLE),
    ("health_probe", _health_probe),
    # a sitemap file's content hash (unchanged files are skipped without validators), its
    # quality figures (counted again when it is unchanged) and its last fetch's redirect hops
    ("sitemap_file_digest", _sitemap_file_digest),
    ("active_job_indexes", _ACTIVE_JOB_INDEXES),
]
