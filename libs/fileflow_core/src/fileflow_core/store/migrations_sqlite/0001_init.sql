-- The PostgreSQL schema (migrations/0001..0002) in SQLite's dialect: same tables, columns and
-- constraints. Timestamps are UTC ISO-8601 text of one fixed width, so they sort as they compare.
CREATE TABLE contents (
    sha256            text PRIMARY KEY
                      CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    size              integer NOT NULL CHECK (size >= 0),
    mime_type         text NOT NULL,
    metadata          text NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    extraction_status text NOT NULL DEFAULT 'completed'
                      CHECK (extraction_status IN ('completed', 'failed', 'skipped')),
    extraction_error  text,
    created_at        text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE files (
    id             integer PRIMARY KEY AUTOINCREMENT,
    root_id        text NOT NULL CHECK (root_id <> ''),
    path           text NOT NULL CHECK (path <> '' AND substr(path, 1, 1) <> '/'),
    content_sha256 text REFERENCES contents (sha256),
    size           integer CHECK (size >= 0),
    mtime_ns       integer,
    inode          integer,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    error          text,
    attempts       integer NOT NULL DEFAULT 0,
    deleted        integer NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    deleted_at     text,
    observed_at    text,
    created_at     text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at     text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    source         text CHECK (source IS NULL OR json_valid(source)),
    CONSTRAINT files_identity UNIQUE (root_id, path),
    CONSTRAINT files_tombstone CHECK (deleted = (deleted_at IS NOT NULL))
);
CREATE INDEX files_status_idx ON files (status) WHERE NOT deleted;
CREATE INDEX files_content_idx ON files (content_sha256);

CREATE TABLE chunks (
    content_sha256 text NOT NULL REFERENCES contents (sha256) ON DELETE CASCADE,
    seq            integer NOT NULL CHECK (seq >= 0),
    text           text NOT NULL,
    PRIMARY KEY (content_sha256, seq)
) WITHOUT ROWID;

CREATE TABLE roots (
    id         text PRIMARY KEY,
    collection text NOT NULL,
    path       text NOT NULL,
    updated_at text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
