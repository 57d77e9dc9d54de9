-- The shop's catalogue, seeded with a few thousand products so that the
-- cache in front of it has real work. The worker only reads it.
CREATE TABLE products (
	id		bigint PRIMARY KEY CHECK (id > 0),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	description	text NOT NULL DEFAULT '',
	price_cents	integer NOT NULL CHECK (price_cents >= 0),
	created		timestamptz NOT NULL DEFAULT now()
);

INSERT INTO products (id, name, description, price_cents)
SELECT g,
       'Product ' || g,
       'Item number ' || g || ' of the catalogue, in '
	   || (ARRAY['red', 'green', 'blue', 'black', 'white'])[1 + g % 5]
	   || '.',
       99 + (g * 7919) % 20000
FROM generate_series(1, 5000) AS g;

GRANT SELECT ON products TO shoal_app;
