-- +goose Up
-- The retention janitor finds old idempotency keys and early webhooks by age.
CREATE INDEX holds_created ON holds (created_at);
CREATE INDEX orders_created ON orders (created_at);
CREATE INDEX payments_state_created ON payments (state, created_at);

-- +goose Down
DROP INDEX payments_state_created;
DROP INDEX orders_created;
DROP INDEX holds_created;
