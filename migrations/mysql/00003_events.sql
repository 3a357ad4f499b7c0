-- +goose Up
-- The journal: every state change of a product, written in the same
-- transaction as the change, numbered 1, 2, 3 ... per product, with the
-- product's counters right after it.
CREATE TABLE events (
    product_id       BIGINT       NOT NULL,
    seq              BIGINT       NOT NULL,
    kind             VARCHAR(32)  NOT NULL,
    at               BIGINT       NOT NULL,
    hold_id          BIGINT       NULL,
    order_id         BIGINT       NULL,
    idempotency_key  VARBINARY(1020) NULL,
    qty              BIGINT       NOT NULL,
    reason           VARCHAR(32)  NULL,
    stock            BIGINT       NOT NULL,
    available        BIGINT       NOT NULL,
    held             BIGINT       NOT NULL,
    awaiting_payment BIGINT       NOT NULL,
    paid             BIGINT       NOT NULL,
    PRIMARY KEY (product_id, seq)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Products made before the journal start it with their counters as they are.
INSERT INTO events (product_id, seq, kind, at, qty, stock, available, held, awaiting_payment, paid)
SELECT id, 1, 'product_created', updated_at, stock, stock, stock - held - awaiting_payment - paid,
       held, awaiting_payment, paid
FROM products;

-- +goose Down
DROP TABLE events;
