-- Appended to bench/outbound.sql by bench/run.sh (step 8): one alternative to announcing a
-- movement inside its own transaction (issue 10 §4). The movement commits without a
-- notification (the bench disables the ledger's notify trigger around it); the announcement
-- follows in a transaction of its own with synchronous_commit off, so that PostgreSQL's
-- database-wide lock for notifying commits is not held across a WAL flush.
BEGIN;
SET LOCAL synchronous_commit = off;
SELECT pg_notify('stockroom_stock', json_build_object('p', :p::int, 's', :s::int, 't', NULL, 'low', false)::text);
COMMIT;
