-- +goose Up
-- An order takes over its hold's units. initial_status is what the order
-- was created as, so that a retried request with the same Idempotency-Key
-- gets the same answer.
CREATE TABLE orders (
    id              BIGINT       NOT NULL PRIMARY KEY,
    hold_id         BIGINT       NOT NULL,
    product_id      BIGINT       NOT NULL,
    qty             BIGINT       NOT NULL,
    amount_cents    BIGINT       NOT NULL,
    status          VARCHAR(20)  NOT NULL,
    initial_status  VARCHAR(20)  NOT NULL,
    cancel_reason   VARCHAR(20)  NULL,
    expires_at      BIGINT       NOT NULL,
    created_at      BIGINT       NOT NULL,
    updated_at      BIGINT       NOT NULL,
    idempotency_key VARBINARY(1020) NULL,
    request_hash    CHAR(64)     NULL,
    UNIQUE KEY orders_hold (hold_id),
    UNIQUE KEY orders_product_key (product_id, idempotency_key),
    KEY orders_key (idempotency_key),
    KEY orders_product_status (product_id, status, expires_at),
    CONSTRAINT orders_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT orders_hold_ref FOREIGN KEY (hold_id) REFERENCES holds (id),
    CONSTRAINT orders_qty_positive CHECK (qty > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per webhook idempotency key. state is 'pending' while its order
-- does not exist yet and 'applied' once it took effect; result_status is
-- the order's status right after it, which every repeat is answered with.
CREATE TABLE payments (
    idempotency_key VARBINARY(1020) NOT NULL PRIMARY KEY,
    order_id        BIGINT       NOT NULL,
    status          VARCHAR(16)  NOT NULL,
    payload_hash    CHAR(64)     NOT NULL,
    state           VARCHAR(16)  NOT NULL,
    result_status   VARCHAR(20)  NULL,
    created_at      BIGINT       NOT NULL,
    applied_at      BIGINT       NULL,
    KEY payments_order_state (order_id, state)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE payments;
DROP TABLE orders;
