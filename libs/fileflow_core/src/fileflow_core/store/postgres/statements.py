"""The writes' SQL: the single-file and the batch forms share their conditions."""

from __future__ import annotations

from fileflow_core.store.postgres.connection import BY_PATH

# A stale observation never overwrites a newer one; an identical one writes nothing. Shared by
# the single-file and the batch statement, so the two cannot disagree.
PRESENT_ON_CONFLICT = """
ON CONFLICT (root_id, path_hash) DO UPDATE SET
    content_sha256 = EXCLUDED.content_sha256, size = EXCLUDED.size,
    mtime_ns = EXCLUDED.mtime_ns, inode = EXCLUDED.inode, status = EXCLUDED.status,
    error = EXCLUDED.error, attempts = EXCLUDED.attempts, deleted = false, deleted_at = NULL,
    observed_at = EXCLUDED.observed_at, source = EXCLUDED.source, updated_at = now()
WHERE (f.observed_at IS NULL OR f.observed_at <= EXCLUDED.observed_at)
  AND (f.content_sha256, f.size, f.mtime_ns, f.inode, f.status, f.error, f.deleted, f.source)
      IS DISTINCT FROM (EXCLUDED.content_sha256, EXCLUDED.size, EXCLUDED.mtime_ns,
                        EXCLUDED.inode, EXCLUDED.status, EXCLUDED.error, false, EXCLUDED.source)
"""

# The file takes its status from its content (failed extraction → failed file, with the reason).
UPSERT_PRESENT = (
    """
WITH c AS (SELECT extraction_status, extraction_error FROM contents WHERE sha256 = $3)
INSERT INTO files AS f (root_id, path, path_bytes, content_sha256, size, mtime_ns, inode,
                        status, error, attempts, deleted, deleted_at, observed_at, source)
SELECT $1, $2, $10, $3, $4, $5, $6,
       CASE WHEN c.extraction_status = 'failed' THEN 'failed' ELSE 'completed' END,
       c.extraction_error, $7, false, NULL, $8, $9::jsonb
FROM c
"""
    + PRESENT_ON_CONFLICT
    + """
RETURNING status
"""
)

UPSERT_CONTENT = """
INSERT INTO contents AS c (sha256, size, mime_type, metadata, extraction_status, extraction_error)
VALUES ($1, $2, $3, $4::jsonb, $5, $6)
ON CONFLICT (sha256) DO UPDATE SET
    size = EXCLUDED.size, mime_type = EXCLUDED.mime_type, metadata = EXCLUDED.metadata,
    extraction_status = EXCLUDED.extraction_status,
    extraction_error = EXCLUDED.extraction_error, updated_at = now()
WHERE c.extraction_status <> 'completed' OR $7
RETURNING sha256
"""

# The batch forms of the two upserts above: the same conditions, one statement for many rows.
# ``inserted`` (a new row version with no locker, PostgreSQL's mark of an INSERT rather than an
# ON CONFLICT UPDATE) spares a new content the search for old chunks: a batch of new contents
# spent 40 % of its time there. Were it ever wrong, the chunks' COPY would hit their primary
# key and the batch would be written again file by file, each content clearing its chunks.
UPSERT_CONTENTS = """
INSERT INTO contents AS c (sha256, size, mime_type, metadata, extraction_status, extraction_error)
SELECT v.sha256, v.size, v.mime_type, v.metadata::jsonb, v.status, v.error
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
     AS v(sha256, size, mime_type, metadata, status, error)
ON CONFLICT (sha256) DO UPDATE SET
    size = EXCLUDED.size, mime_type = EXCLUDED.mime_type, metadata = EXCLUDED.metadata,
    extraction_status = EXCLUDED.extraction_status,
    extraction_error = EXCLUDED.extraction_error, updated_at = now()
WHERE c.extraction_status <> 'completed' OR EXCLUDED.sha256 = ANY($7::text[])
RETURNING sha256, xmax = 0 AS inserted
"""

UPSERT_PRESENT_MANY = (
    """
INSERT INTO files AS f (root_id, path, path_bytes, content_sha256, size, mtime_ns, inode,
                        status, error, attempts, deleted, deleted_at, observed_at, source)
SELECT v.root_id, v.path, v.path_bytes, v.sha256, v.size, v.mtime_ns, v.inode,
       CASE WHEN c.extraction_status = 'failed' THEN 'failed' ELSE 'completed' END,
       c.extraction_error, v.attempts, false, NULL, v.observed_at, v.source::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
            $7::int[], $8::timestamptz[], $9::text[], $10::bytea[])
     AS v(root_id, path, sha256, size, mtime_ns, inode, attempts, observed_at, source,
          path_bytes)
JOIN contents c ON c.sha256 = v.sha256
"""
    + PRESENT_ON_CONFLICT
    + """
RETURNING root_id, path_bytes, status
"""
)


MARK_DELETED = f"""
UPDATE files SET deleted = true, deleted_at = now(), status = 'deleted', error = NULL,
                 observed_at = $3, updated_at = now()
WHERE {BY_PATH} AND NOT deleted
  AND (observed_at IS NULL OR observed_at <= $3)
RETURNING id
"""

MARK_PROCESSING = """
INSERT INTO files AS f (root_id, path, path_bytes, size, mtime_ns, inode, status, attempts,
                        observed_at)
VALUES ($1, $8, $2, $3, $4, $5, 'processing', $6, $7)
ON CONFLICT (root_id, path_hash) DO UPDATE SET
    status = 'processing', attempts = EXCLUDED.attempts, deleted = false, deleted_at = NULL,
    updated_at = now()
WHERE f.observed_at IS NULL OR f.observed_at <= EXCLUDED.observed_at
"""

UPSERT_FAILED = """
INSERT INTO files AS f (root_id, path, path_bytes, size, mtime_ns, inode, status, error,
                        attempts, observed_at)
VALUES ($1, $9, $2, $3, $4, $5, 'failed', $6, $7, $8)
ON CONFLICT (root_id, path_hash) DO UPDATE SET
    status = 'failed', error = EXCLUDED.error, attempts = EXCLUDED.attempts, deleted = false,
    deleted_at = NULL, observed_at = EXCLUDED.observed_at, updated_at = now()
WHERE f.observed_at IS NULL OR f.observed_at <= EXCLUDED.observed_at
"""
