-- +goose Up
-- Idempotency keys are VARBINARY: compared byte for byte, so that "k" and
-- "k " are two keys, as they are on SQLite.
-- products.held, awaiting_payment and paid are the committed counters of the
-- product's actor; version is bumped by every batch so that a second writer
-- is caught by the SELECT ... FOR UPDATE check.
CREATE TABLE products (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name             VARCHAR(255) NOT NULL,
    price_cents      BIGINT       NOT NULL,
    stock            BIGINT       NOT NULL,
    held             BIGINT       NOT NULL DEFAULT 0,
    awaiting_payment BIGINT       NOT NULL DEFAULT 0,
    paid             BIGINT       NOT NULL DEFAULT 0,
    version          BIGINT       NOT NULL DEFAULT 0,
    created_at       BIGINT       NOT NULL,
    updated_at       BIGINT       NOT NULL,
    CONSTRAINT products_price_nonnegative CHECK (price_cents >= 0),
    CONSTRAINT products_counters_nonnegative CHECK (held >= 0 AND awaiting_payment >= 0 AND paid >= 0),
    CONSTRAINT products_never_oversold CHECK (held + awaiting_payment + paid <= stock)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE holds (
    id              BIGINT       NOT NULL PRIMARY KEY,
    product_id      BIGINT       NOT NULL,
    qty             BIGINT       NOT NULL,
    status          VARCHAR(16)  NOT NULL,
    expires_at      BIGINT       NOT NULL,
    created_at      BIGINT       NOT NULL,
    idempotency_key VARBINARY(1020) NULL,
    request_hash    CHAR(64)     NULL,
    UNIQUE KEY holds_product_key (product_id, idempotency_key),
    KEY holds_key (idempotency_key),
    KEY holds_product_status (product_id, status, expires_at),
    CONSTRAINT holds_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT holds_qty_positive CHECK (qty > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Ids are handed out in blocks so that the hot path never waits on this row.
CREATE TABLE sequences (
    name       VARCHAR(32) NOT NULL PRIMARY KEY,
    next_value BIGINT      NOT NULL
) ENGINE = InnoDB;

INSERT INTO sequences (name, next_value) VALUES ('hold', 1), ('order', 1);

-- +goose Down
DROP TABLE sequences;
DROP TABLE holds;
DROP TABLE products;
