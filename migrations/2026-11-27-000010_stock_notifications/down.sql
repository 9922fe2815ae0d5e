DROP TRIGGER stocks_notify_insert ON stocks;
DROP TRIGGER stocks_notify_update ON stocks;
DROP TRIGGER inventory_transactions_notify ON inventory_transactions;
DROP FUNCTION stockroom_notify_stock_insert();
DROP FUNCTION stockroom_notify_stock_update();
DROP FUNCTION stockroom_notify_ledger();
