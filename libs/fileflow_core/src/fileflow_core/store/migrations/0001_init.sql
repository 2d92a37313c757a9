-- Contents are identified by their bytes; files are places that point at a content.
CREATE TABLE contents (
    sha256            text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size              bigint NOT NULL CHECK (size >= 0),
    mime_type         text NOT NULL,
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
    extraction_status text NOT NULL DEFAULT 'completed'
                      CHECK (extraction_status IN ('completed', 'failed', 'skipped')),
    extraction_error  text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE files (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    root_id        text NOT NULL CHECK (root_id <> ''),
    path           text NOT NULL CHECK (path <> '' AND left(path, 1) <> '/'),
    content_sha256 text REFERENCES contents (sha256),
    size           bigint CHECK (size >= 0),
    mtime_ns       bigint,
    inode          bigint,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    error          text,
    attempts       integer NOT NULL DEFAULT 0,
    deleted        boolean NOT NULL DEFAULT false,
    deleted_at     timestamptz,
    observed_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
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
);
