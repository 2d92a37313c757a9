-- The configured roots, so rows can be grouped by collection; and where a file came from.
CREATE TABLE roots (
    id         text PRIMARY KEY,
    collection text NOT NULL,
    path       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE files ADD COLUMN source jsonb;
