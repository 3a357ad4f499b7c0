-- +goose Up
-- The journal: every state change of a product, written in the same
-- transaction as the change, numbered 1, 2, 3 ... per product, with the
-- product's counters right after it.
CREATE TABLE events (
    product_id       INTEGER      NOT NULL,
    seq              INTEGER      NOT NULL,
    kind             TEXT         NOT NULL,
    at               INTEGER      NOT NULL,
    hold_id          INTEGER      NULL,
    order_id         INTEGER      NULL,
    idempotency_key  TEXT         NULL,
    qty              INTEGER      NOT NULL,
    reason           TEXT         NULL,
    stock            INTEGER      NOT NULL,
    available        INTEGER      NOT NULL,
    held             INTEGER      NOT NULL,
    awaiting_payment INTEGER      NOT NULL,
    paid             INTEGER      NOT NULL,
    PRIMARY KEY (product_id, seq)
);

-- Products made before the journal start it with their counters as they are.
INSERT INTO events (product_id, seq, kind, at, qty, stock, available, held, awaiting_payment, paid)
SELECT id, 1, 'product_created', updated_at, stock, stock, stock - held - awaiting_payment - paid,
       held, awaiting_payment, paid
FROM products;

-- +goose Down
DROP TABLE events;
