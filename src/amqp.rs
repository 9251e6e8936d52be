//! The RabbitMQ side: connection with reconnect, topology, consumers and publishing with confirms.
