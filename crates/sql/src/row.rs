//! [`row!`](crate::row!): a struct whose fields are read from a row of either backend by their
//! column names, the one thing `#[derive(sqlx::FromRow)]` did for the stores, without sqlx's
//! `macros` feature (see the `migrations` module for why).

/// Declares a struct and implements `sqlx::FromRow` for it on SQLite and PostgreSQL rows, each
/// field read from the column of its name:
///
/// ```
/// varsel_sql::row! {
///     /// A checkpoint as stored.
///     struct RawCheckpoint {
///         seq: i64,
///         hash: Vec<u8>,
///         jws: Option<String>,
///     }
/// }
/// ```
#[macro_export]
macro_rules! row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),+
        }

        impl<'r> ::sqlx::FromRow<'r, ::sqlx::sqlite::SqliteRow> for $name {
            fn from_row(row: &'r ::sqlx::sqlite::SqliteRow) -> ::std::result::Result<Self, ::sqlx::Error> {
                use ::sqlx::Row as _;
                Ok($name { $($field: row.try_get(stringify!($field))?),+ })
            }
        }

        impl<'r> ::sqlx::FromRow<'r, ::sqlx::postgres::PgRow> for $name {
            fn from_row(row: &'r ::sqlx::postgres::PgRow) -> ::std::result::Result<Self, ::sqlx::Error> {
                use ::sqlx::Row as _;
                Ok($name { $($field: row.try_get(stringify!($field))?),+ })
            }
        }
    };
}
