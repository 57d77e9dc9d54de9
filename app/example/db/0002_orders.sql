-- Orders and their lines. A checkout inserts an order and its lines in one
-- transaction; the idempotency key (from the session) makes a retried or
-- doubled checkout of one cart insert nothing the second time. The worker
-- may insert and read, and change an order's status only: no DELETE.
CREATE TABLE orders (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account_id	bigint NOT NULL REFERENCES accounts (id),
	idempotency_key	text NOT NULL UNIQUE
			CHECK (length(idempotency_key) BETWEEN 16 AND 128),
	status		text NOT NULL DEFAULT 'placed'
			CHECK (status IN ('placed', 'paid', 'shipped',
			    'cancelled')),
	total_cents	bigint NOT NULL CHECK (total_cents >= 0),
	created		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_by_account ON orders (account_id, created DESC);

CREATE TABLE order_lines (
	order_id	bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
	line		integer NOT NULL CHECK (line > 0),
	product_id	bigint NOT NULL REFERENCES products (id),
	qty		integer NOT NULL CHECK (qty BETWEEN 1 AND 1000),
	price_cents	integer NOT NULL CHECK (price_cents >= 0),
	PRIMARY KEY (order_id, line)
);

GRANT SELECT, INSERT ON orders, order_lines TO shoal_app;
GRANT UPDATE (status) ON orders TO shoal_app;
