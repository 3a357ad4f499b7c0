-- +goose Up
-- Every node looks each second for products with holds or unpaid orders
-- past their time and no actor running; these keep that a range read.
-- Partial, unlike MySQL's (which has none): a full index on status would
-- tempt SQLite's planner away from the primary key in the group commit's
-- UPDATE holds ... WHERE status = ? AND id IN (...), scanning every active
-- hold; a partial one serves only queries that name its status literally.
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'active';
CREATE INDEX orders_due ON orders (expires_at) WHERE status = 'pending_payment';

-- +goose Down
DROP INDEX orders_due;
DROP INDEX holds_due;
