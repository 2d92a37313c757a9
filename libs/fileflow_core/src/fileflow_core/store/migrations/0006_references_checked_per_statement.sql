-- Files and chunks still may only name a content that is stored, and a stored content still
-- may not disappear from under a file; what changes is how that is checked. A foreign key
-- checks each new row with its own query and locks its content one row at a time: with three
-- chunks and one file a content, those checks were half of PostgreSQL's CPU in a bulk import.
-- Here the rows an INSERT (or COPY) adds are checked, and the contents they name locked against
-- deletion, with one query each. An UPDATE is checked only for the rows whose content changes,
-- one at a time, as a foreign key does: a mass update of statuses checks and locks nothing.
--
-- The same rules as the foreign keys they replace:
--   * a file or chunk naming a content that is not stored: refused (foreign_key_violation);
--   * deleting a content deletes its chunks, and is refused while a file names it;
--   * TRUNCATE contents is refused while files or chunks name contents (truncate them with it);
--   * a content's sha256 is its name and cannot be changed.
-- The deleting side reads the files as they are when its statement ends, so deleting contents
-- under REPEATABLE READ (whose snapshot could miss a file committed meanwhile) is refused.
--
-- Like a foreign key's, the checks run as the tables' owner (SECURITY DEFINER), so a role that
-- may write files needs no rights on contents for them, with a search path fixed to this schema.
-- The planner settings make every lookup an index probe whatever the tables' sizes: a plan kept
-- from a nearly empty library would otherwise scan all of `contents` for each statement.

ALTER TABLE files DROP CONSTRAINT IF EXISTS files_content_sha256_fkey;
ALTER TABLE chunks DROP CONSTRAINT IF EXISTS chunks_content_sha256_fkey;

CREATE FUNCTION fileflow_contents_named() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
    missing text;
BEGIN
    PERFORM 1 FROM contents c
    WHERE c.sha256 IN (SELECT r.content_sha256 FROM naming r)
    FOR KEY SHARE OF c;
    SELECT r.content_sha256 INTO missing
    FROM (SELECT DISTINCT content_sha256 FROM naming WHERE content_sha256 IS NOT NULL) r
    WHERE NOT EXISTS (SELECT 1 FROM contents c WHERE c.sha256 = r.content_sha256)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" names a content that is not stored',
            TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (content_sha256)=(%s) is not present in table "contents".',
                                  missing),
                  HINT = 'Store the content first, in the same transaction or before it.';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION fileflow_content_repointed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET enable_seqscan = off AS $$
BEGIN
    PERFORM 1 FROM contents c WHERE c.sha256 = NEW.content_sha256 FOR KEY SHARE OF c;
    IF NOT EXISTS (SELECT 1 FROM contents c WHERE c.sha256 = NEW.content_sha256) THEN
        RAISE EXCEPTION 'update on table "%" names a content that is not stored', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (content_sha256)=(%s) is not present in table "contents".',
                                  NEW.content_sha256),
                  HINT = 'Store the content first, in the same transaction or before it.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER files_name_stored_contents AFTER INSERT ON files
    REFERENCING NEW TABLE AS naming FOR EACH STATEMENT
    EXECUTE FUNCTION fileflow_contents_named();
CREATE TRIGGER chunks_name_stored_contents AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS naming FOR EACH STATEMENT
    EXECUTE FUNCTION fileflow_contents_named();
CREATE TRIGGER files_repoint_stored_content AFTER UPDATE OF content_sha256 ON files
    FOR EACH ROW
    WHEN (NEW.content_sha256 IS NOT NULL AND NEW.content_sha256 IS DISTINCT FROM OLD.content_sha256)
    EXECUTE FUNCTION fileflow_content_repointed();
CREATE TRIGGER chunks_repoint_stored_content AFTER UPDATE OF content_sha256 ON chunks
    FOR EACH ROW WHEN (NEW.content_sha256 IS DISTINCT FROM OLD.content_sha256)
    EXECUTE FUNCTION fileflow_content_repointed();

CREATE FUNCTION fileflow_contents_deleted() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
    named text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM removed) THEN
        RETURN NULL;
    END IF;
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'contents may not be deleted under REPEATABLE READ'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Its snapshot could miss a file that names the content, committed meanwhile.',
                  HINT = 'Delete contents under READ COMMITTED (the default) or SERIALIZABLE.';
    END IF;
    DELETE FROM chunks WHERE content_sha256 IN (SELECT sha256 FROM removed);
    SELECT f.content_sha256 INTO named FROM files f
    WHERE f.content_sha256 IN (SELECT sha256 FROM removed)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'delete on table "contents" removes a content a file names'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (sha256)=(%s) is still referenced from table "files".', named),
                  HINT = 'Delete or repoint the files that name it first.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER contents_deleted AFTER DELETE ON contents
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT
    EXECUTE FUNCTION fileflow_contents_deleted();

CREATE FUNCTION fileflow_contents_renamed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    RAISE EXCEPTION 'a content''s sha256 is its name and cannot be changed'
        USING ERRCODE = 'foreign_key_violation',
              DETAIL = format('Key (sha256)=(%s) would become (%s).', OLD.sha256, NEW.sha256),
              HINT = 'Store the new content as a row of its own.';
END
$$;

CREATE TRIGGER contents_renamed BEFORE UPDATE OF sha256 ON contents
    FOR EACH ROW WHEN (OLD.sha256 IS DISTINCT FROM NEW.sha256)
    EXECUTE FUNCTION fileflow_contents_renamed();

CREATE FUNCTION fileflow_contents_truncated() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM files WHERE content_sha256 IS NOT NULL)
       OR EXISTS (SELECT 1 FROM chunks) THEN
        RAISE EXCEPTION 'cannot truncate contents while files or chunks name them'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Truncate files and chunks in the same command: TRUNCATE files, contents, chunks.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER contents_truncated AFTER TRUNCATE ON contents
    FOR EACH STATEMENT EXECUTE FUNCTION fileflow_contents_truncated();

-- A SECURITY DEFINER function must not find its tables through a caller's search path: this
-- schema's, then temporary objects last (where they cannot stand in for these tables).
DO $$
DECLARE
    function_name text;
BEGIN
    FOREACH function_name IN ARRAY ARRAY['fileflow_contents_named', 'fileflow_content_repointed',
        'fileflow_contents_deleted', 'fileflow_contents_renamed', 'fileflow_contents_truncated']
    LOOP
        EXECUTE format('ALTER FUNCTION %I() SET search_path = %I, pg_temp',
                       function_name, current_schema());
    END LOOP;
END
$$;

-- The same rule as `~ '^[0-9a-f]{64}$'` (64 single-byte characters, each a lower-case hex digit)
-- without running a regular expression for every new content.
ALTER TABLE contents DROP CONSTRAINT IF EXISTS contents_sha256_check;
ALTER TABLE contents ADD CONSTRAINT contents_sha256_check
    CHECK (octet_length(sha256) = 64 AND ltrim(sha256, '0123456789abcdef') = '');
