-- +goose Up
-- The node whose actor decided each event: a product's journal shows where
-- it lived and when it moved. Empty outside a cluster.
ALTER TABLE events ADD COLUMN node TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE events DROP COLUMN node;
