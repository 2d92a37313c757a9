-- PostgreSQL's 0003 in SQLite's dialect. SQLite has no limit on an index entry's size, so the
-- identity is the bytes themselves; a table's constraints change by rebuilding it.
CREATE TABLE files_new (
    id             integer PRIMARY KEY AUTOINCREMENT,
    root_id        text NOT NULL CHECK (root_id <> ''),
    path           text NOT NULL CHECK (path <> '' AND substr(path, 1, 1) <> '/'),
    path_bytes     blob NOT NULL CHECK (length(path_bytes) > 0),
    content_sha256 text REFERENCES contents (sha256),
    size           integer CHECK (size >= 0),
    mtime_ns       integer,
    inode          integer,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'deleted')),
    error          text,
    attempts       integer NOT NULL DEFAULT 0,
    deleted        integer NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    deleted_at     text,
    observed_at    text,
    created_at     text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at     text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    source         text CHECK (source IS NULL OR json_valid(source)),
    CONSTRAINT files_identity UNIQUE (root_id, path_bytes),
    CONSTRAINT files_tombstone CHECK (deleted = (deleted_at IS NOT NULL)),
    CONSTRAINT files_deleted_status CHECK (deleted = (status = 'deleted'))
);
INSERT INTO files_new (id, root_id, path, path_bytes, content_sha256, size, mtime_ns, inode,
                       status, error, attempts, deleted, deleted_at, observed_at, created_at,
                       updated_at, source)
SELECT id, root_id, path, CAST(path AS BLOB), content_sha256, size, mtime_ns, inode,
       CASE WHEN deleted THEN 'deleted' ELSE status END, CASE WHEN deleted THEN NULL ELSE error END,
       attempts, deleted, CASE WHEN deleted THEN deleted_at END, observed_at, created_at,
       updated_at, source
FROM files;
DROP TABLE files;
ALTER TABLE files_new RENAME TO files;
CREATE INDEX files_status_idx ON files (status) WHERE NOT deleted;
CREATE INDEX files_content_idx ON files (content_sha256);

ALTER TABLE roots ADD COLUMN identity text;
