-- One alternative to announcing a movement inside its own transaction (issue 10 §4): the
-- movement of bench/outbound.sql committed without a notification (the bench disables the
-- ledger's notify trigger around it), then the announcement in a transaction of its own with
-- synchronous_commit off, so that PostgreSQL's database-wide lock for notifying commits is not
-- held across a WAL flush.
\set k random(1, 2000)
SELECT product_id AS p, store_id AS s FROM bench.pairs WHERE k = :k \gset
BEGIN;
WITH s AS (
    UPDATE stocks AS st SET quantity = st.quantity + -1, updated_at = clock_timestamp()
    FROM products p
    WHERE st.product_id = :p AND st.store_id = :s AND p.id = st.product_id AND NOT p.archived
      AND st.quantity + -1 >= 0
    RETURNING st.product_id, st.store_id, st.quantity, st.reorder_point, st.updated_at
), t AS (
    INSERT INTO inventory_transactions
        (type, product_id, store_id, user_id, quantity, quantity_after, note, reference, created_at)
    SELECT 'OUTBOUND', s.product_id, s.store_id, 1, -1, s.quantity, NULL, NULL, clock_timestamp() FROM s
    RETURNING *
)
SELECT t.id, t.type AS kind, t.product_id, t.store_id, t.user_id, t.quantity, t.quantity_after,
       t.note, t.reference, t.created_at, s.reorder_point, s.updated_at AS stock_updated_at
FROM t CROSS JOIN s;
COMMIT;
BEGIN;
SET LOCAL synchronous_commit = off;
SELECT pg_notify('stockroom_stock', json_build_object('p', :p::int, 's', :s::int, 't', NULL, 'low', false)::text);
COMMIT;
