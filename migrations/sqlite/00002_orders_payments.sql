-- +goose Up
-- An order takes over its hold's units. initial_status is what the order
-- was created as, so that a retried request with the same Idempotency-Key
-- gets the same answer.
CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    hold_id         INTEGER NOT NULL REFERENCES holds (id),
    product_id      INTEGER NOT NULL REFERENCES products (id),
    qty             INTEGER NOT NULL CHECK (qty > 0),
    amount_cents    INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    initial_status  TEXT    NOT NULL,
    cancel_reason   TEXT    NULL,
    expires_at      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    idempotency_key TEXT    NULL,
    request_hash    TEXT    NULL
);
CREATE UNIQUE INDEX orders_hold ON orders (hold_id);
CREATE UNIQUE INDEX orders_product_key ON orders (product_id, idempotency_key);
CREATE INDEX orders_key ON orders (idempotency_key);
CREATE INDEX orders_product_status ON orders (product_id, status, expires_at);

-- One row per webhook idempotency key. state is 'pending' while its order
-- does not exist yet and 'applied' once it took effect; result_status is
-- the order's status right after it, which every repeat is answered with.
CREATE TABLE payments (
    idempotency_key TEXT    NOT NULL PRIMARY KEY,
    order_id        INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    payload_hash    TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    result_status   TEXT    NULL,
    created_at      INTEGER NOT NULL,
    applied_at      INTEGER NULL
);
CREATE INDEX payments_order_state ON payments (order_id, state);

-- +goose Down
DROP TABLE payments;
DROP TABLE orders;
