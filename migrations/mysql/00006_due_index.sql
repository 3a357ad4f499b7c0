-- +goose Up
-- Every node looks each second for products with holds or unpaid orders
-- past their time and no actor running; these keep that a range read.
CREATE INDEX holds_status_expires ON holds (status, expires_at);
CREATE INDEX orders_status_expires ON orders (status, expires_at);

-- +goose Down
DROP INDEX orders_status_expires ON orders;
DROP INDEX holds_status_expires ON holds;
