-- The last publication of a delivery, for a redelivery step, without reading the alert's whole
-- outbox.
CREATE INDEX outbox_delivery ON outbox (delivery_id, id);
