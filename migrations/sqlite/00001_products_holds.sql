-- +goose Up
-- products.held, awaiting_payment and paid are the committed counters of the
-- product's actor; version is bumped by every batch so that a second writer
-- is caught by the check made inside BEGIN IMMEDIATE.
CREATE TABLE products (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL,
    price_cents      INTEGER NOT NULL,
    stock            INTEGER NOT NULL,
    held             INTEGER NOT NULL DEFAULT 0,
    awaiting_payment INTEGER NOT NULL DEFAULT 0,
    paid             INTEGER NOT NULL DEFAULT 0,
    version          INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    CONSTRAINT products_price_nonnegative CHECK (price_cents >= 0),
    CONSTRAINT products_counters_nonnegative CHECK (held >= 0 AND awaiting_payment >= 0 AND paid >= 0),
    CONSTRAINT products_never_oversold CHECK (held + awaiting_payment + paid <= stock)
);

CREATE TABLE holds (
    id              INTEGER PRIMARY KEY,
    product_id      INTEGER NOT NULL REFERENCES products (id),
    qty             INTEGER NOT NULL CHECK (qty > 0),
    status          TEXT    NOT NULL,
    expires_at      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    idempotency_key TEXT    NULL,
    request_hash    TEXT    NULL
);
CREATE UNIQUE INDEX holds_product_key ON holds (product_id, idempotency_key);
CREATE INDEX holds_key ON holds (idempotency_key);
CREATE INDEX holds_product_status ON holds (product_id, status, expires_at);

-- Ids are handed out in blocks so that the hot path never waits on this row.
CREATE TABLE sequences (
    name       TEXT    NOT NULL PRIMARY KEY,
    next_value INTEGER NOT NULL
);

INSERT INTO sequences (name, next_value) VALUES ('hold', 1), ('order', 1);

-- +goose Down
DROP TABLE sequences;
DROP TABLE holds;
DROP TABLE products;
