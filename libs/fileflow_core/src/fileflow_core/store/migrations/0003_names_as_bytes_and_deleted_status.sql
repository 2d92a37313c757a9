-- A file name is bytes: path_bytes holds them exactly, path a readable form (invalid UTF-8
-- escaped as \xNN). A file's identity is a hash of its bytes, so no path length the
-- filesystem allows is refused by a btree's row size limit.
ALTER TABLE files ADD COLUMN path_bytes bytea;
UPDATE files SET path_bytes = convert_to(path, 'UTF8');
ALTER TABLE files ALTER COLUMN path_bytes SET NOT NULL;
ALTER TABLE files ADD COLUMN path_hash bytea GENERATED ALWAYS AS (sha256(path_bytes)) STORED;
ALTER TABLE files DROP CONSTRAINT files_identity;
ALTER TABLE files ADD CONSTRAINT files_identity UNIQUE (root_id, path_hash);

-- A deleted file says so in its status.
ALTER TABLE files DROP CONSTRAINT files_status_check;
UPDATE files SET status = 'deleted', error = NULL WHERE deleted;
ALTER TABLE files ADD CONSTRAINT files_status_check
    CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'deleted'));
ALTER TABLE files ADD CONSTRAINT files_deleted_status CHECK (deleted = (status = 'deleted'));

-- What each root was when first scanned (device, inode, filesystem id): a root that is not
-- that folder any more (an unmounted share) is unavailable, never empty.
ALTER TABLE roots ADD COLUMN identity text;
