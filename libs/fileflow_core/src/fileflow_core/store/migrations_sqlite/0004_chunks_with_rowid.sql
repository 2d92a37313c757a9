-- Chunks in a rowid table. A chunk is about 2 KB of text; in a WITHOUT ROWID table (an index
-- b-tree) a row keeps at most about 1 KB on a 4 KB page, so every chunk spilled to an overflow
-- page, placed at random by its content hash: a bulk import spent about a third of its SQLite
-- time there. With a rowid, new chunks append at the table's end and only the small
-- (content_sha256, seq) key goes into the primary key's index. (Still so on the 8 KB pages a new
-- database gets: an index row keeps about 2,000 bytes there, just short of a chunk.)
CREATE TABLE chunks_new (
    content_sha256 text NOT NULL REFERENCES contents (sha256) ON DELETE CASCADE,
    seq            integer NOT NULL CHECK (seq >= 0),
    text           text NOT NULL,
    PRIMARY KEY (content_sha256, seq)
);
INSERT INTO chunks_new (content_sha256, seq, text)
SELECT content_sha256, seq, text FROM chunks ORDER BY content_sha256, seq;
DROP TABLE chunks;
ALTER TABLE chunks_new RENAME TO chunks;
