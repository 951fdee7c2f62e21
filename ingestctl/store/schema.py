"""The schema, as an ordered list of migrations; ``PRAGMA user_version`` counts those applied.

Never edit a released migration: append a new one, so older databases upgrade in place.
"""

from __future__ import annotations

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

MIGRATIONS: list[tuple[str, str]] = [
    ("jobs", _JOBS),
    ("sitemaps", _SITEMAPS),
    ("sitemap_extensions", _SITEMAP_EXTENSIONS),
]
