-- The order lists are paged by id, newest first (orders.c): an index in
-- that order lets each page read its rows and no more.
CREATE INDEX orders_by_account_id ON orders (account_id, id DESC);
DROP INDEX orders_by_account;
