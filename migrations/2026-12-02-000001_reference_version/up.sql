-- The version of the small reference tables (stores, categories) that almost every request
-- reads. The service keeps a copy of them in memory and uses it for a request only when the
-- request's token check (one statement, the same snapshot) reads the same version: a reader
-- never sees a row older than the last commit it could have seen. Every statement that writes
-- either table bumps the version in its own transaction (statement-level triggers: one
-- UPDATE per statement, not per row); a bulk import that disables the tables' triggers bumps
-- it itself. Writers of stores and categories queue on this one row; they are rare.
CREATE TABLE reference_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
INSERT INTO reference_version (id, version) VALUES (true, 1);

CREATE FUNCTION stockroom_bump_reference_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reference_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER stores_bump_reference_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stores
    FOR EACH STATEMENT EXECUTE FUNCTION stockroom_bump_reference_version();
CREATE TRIGGER categories_bump_reference_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON categories
    FOR EACH STATEMENT EXECUTE FUNCTION stockroom_bump_reference_version();
