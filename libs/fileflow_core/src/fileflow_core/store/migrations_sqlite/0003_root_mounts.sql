-- The mount points seen beneath each root (JSON list of paths relative to it): while one is
-- not mounted, the files under it are away, not deleted (fileflow_core.submounts).
ALTER TABLE roots ADD COLUMN mounts text;
