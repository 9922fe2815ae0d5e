-- M1's 2000 (product, store) pairs: stock rows of the imported data spread over the whole
-- catalogue (every 49th row in (product, store) order at --scale 1), kept in bench.pairs
-- (k = 1..2000) for pgbench, each given a billion units more and recorded in the ledger too,
-- so that stock and ledger still reconcile.
CREATE SCHEMA bench;
CREATE TABLE bench.pairs AS
SELECT row_number() OVER (ORDER BY product_id, store_id) AS k, product_id, store_id
FROM (SELECT product_id, store_id, row_number() OVER (ORDER BY product_id, store_id) AS n,
             count(*) OVER () AS total
      FROM stocks) s
WHERE n % greatest(total / 2000, 1) = 0
ORDER BY n
LIMIT 2000;
ALTER TABLE bench.pairs ADD PRIMARY KEY (k);
UPDATE stocks st SET quantity = st.quantity + 1000000000
FROM bench.pairs b WHERE st.product_id = b.product_id AND st.store_id = b.store_id;
INSERT INTO inventory_transactions (type, product_id, store_id, quantity, quantity_after, note)
SELECT 'INBOUND', st.product_id, st.store_id, 1000000000, st.quantity, 'benchmark stock'
FROM stocks st JOIN bench.pairs b USING (product_id, store_id);
