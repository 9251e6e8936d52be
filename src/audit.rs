//! The hash-chained audit log: appending, verifying the chain and exporting one alert's history.
