-- Benchmark data on top of the demo catalogue: every (product, store) pair exists and holds
-- a billion units more, recorded in the ledger so stock and ledger still reconcile.
INSERT INTO stocks (product_id, store_id) SELECT p.id, s.id FROM products p, stores s
ON CONFLICT DO NOTHING;
UPDATE stocks SET quantity = quantity + 1000000000;
INSERT INTO inventory_transactions (type, product_id, store_id, quantity, quantity_after, note)
SELECT 'INBOUND', product_id, store_id, 1000000000, quantity, 'benchmark stock' FROM stocks;
