CREATE OR REPLACE FUNCTION stockroom_notify_stock_update() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION stockroom_notify_stock_insert() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION stockroom_notify_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
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

DROP INDEX inventory_transactions_xact_idx;
ALTER TABLE inventory_transactions DROP COLUMN xact_id;
