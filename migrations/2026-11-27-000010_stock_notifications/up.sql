-- Live updates across instances: every committed change of a stock row is announced on the
-- channel `stockroom_stock` (delivered by PostgreSQL only on commit), as JSON
-- {"p": product id, "s": store id, "t": ledger row id or null, "low": crossed down to or
-- below the reorder point}. Statement-level triggers with transition tables keep the cost to
-- one call per statement; a statement touching more than 1000 rows (a bulk import) announces
-- nothing, as no live client could use a million events.

CREATE FUNCTION stockroom_notify_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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

CREATE TRIGGER inventory_transactions_notify
    AFTER INSERT ON inventory_transactions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stockroom_notify_ledger();

-- Changes that write no ledger row: a reorder point set on an existing row.
CREATE FUNCTION stockroom_notify_stock_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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

CREATE TRIGGER stocks_notify_update
    AFTER UPDATE ON stocks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stockroom_notify_stock_update();

-- ... and an empty row created without a movement (e.g. a reorder point on a new pair).
CREATE FUNCTION stockroom_notify_stock_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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

CREATE TRIGGER stocks_notify_insert
    AFTER INSERT ON stocks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stockroom_notify_stock_insert();
