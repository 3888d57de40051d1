-- A random identity per database, made once. Column files on local disk (see the store's
-- `files` module) are kept under it, so that files made for one database are never read as
-- another's, whose imports may have the same numbers.
CREATE TABLE store_identity (id TEXT NOT NULL);

INSERT INTO store_identity (id) VALUES (replace(gen_random_uuid()::text, '-', ''));
