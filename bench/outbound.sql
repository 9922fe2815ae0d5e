-- The statements a58212d's service sends for one recordOutbound (src/db/models/movement.rs):
-- one transaction holding the conditional update of the stock row and the ledger insert, on a
-- random one of the 2000 pairs of bench.pairs (bench/pairs.sql; the look-up runs before BEGIN).
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
