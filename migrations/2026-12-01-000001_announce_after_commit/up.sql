-- Movements announced after their commit (issue 10): a notifying commit holds a database-wide
-- lock across its WAL flush, so movements that notify in their commit flush one at a time.
-- The service's movement statements set `stockroom.announce = 'after'` for their transaction;
-- the ledger trigger then leaves the announcement to the service, which sends it right after
-- the commit (`live::LiveHub::announce`). Any other writer (psql, a script) is still announced
-- in its commit.
--
-- An announcement sent after the commit can be lost (the instance dies in between), so the
-- ledger carries the id of the transaction that wrote each row: every instance with live
-- subscribers compares snapshots each second and announces the rows committed in between
-- that no notification told it of (`live.rs`, the sweep). Rows written before this migration
-- have no id and are never swept.

ALTER TABLE inventory_transactions ADD COLUMN xact_id bigint;
ALTER TABLE inventory_transactions ALTER COLUMN xact_id SET DEFAULT pg_current_xact_id()::text::bigint;
CREATE INDEX inventory_transactions_xact_idx
    ON inventory_transactions (xact_id) WHERE xact_id IS NOT NULL;

CREATE OR REPLACE FUNCTION stockroom_notify_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('stockroom.announce', true) = 'after' THEN
        RETURN NULL;
    END IF;
    IF (SELECT count(*) FROM new_rows) > 1000 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('stockroom_stock', json_build_object(
        'p', n.product_id, 's', n.store_id, 't', n.id,
        'low', n.quantity_after <= st.reorder_point
               AND n.quantity_after - n.quantity > st.reorder_point)::text)
    FROM new_rows n
    JOIN stocks st ON st.product_id = n.product_id AND st.store_id = n.store_id
    ORDER BY n.id;
    RETURN NULL;
END
$$;

-- The stock row triggers announce what writes no ledger row (a reorder point set, an empty row
-- created); a movement's statement changes quantities only, which its ledger rows announce.
-- They return at once inside a movement rather than run their query for nothing.
CREATE OR REPLACE FUNCTION stockroom_notify_stock_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('stockroom.announce', true) = 'after' THEN
        RETURN NULL;
    END IF;
    IF (SELECT count(*) FROM new_rows) > 1000 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('stockroom_stock', json_build_object(
        'p', n.product_id, 's', n.store_id, 't', NULL,
        'low', n.quantity <= n.reorder_point AND o.quantity > o.reorder_point)::text)
    FROM new_rows n
    JOIN old_rows o ON o.product_id = n.product_id AND o.store_id = n.store_id
    WHERE n.quantity = o.quantity AND n.reorder_point <> o.reorder_point;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION stockroom_notify_stock_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('stockroom.announce', true) = 'after' THEN
        RETURN NULL;
    END IF;
    IF (SELECT count(*) FROM new_rows) > 1000 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('stockroom_stock', json_build_object(
        'p', n.product_id, 's', n.store_id, 't', NULL, 'low', false)::text)
    FROM new_rows n
    WHERE n.quantity = 0;
    RETURN NULL;
END
$$;
