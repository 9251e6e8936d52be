//! The stores' schema migrations, embedded in the binary as their SQL text and turned into sqlx's
//! [`Migrator`] when a database is opened, exactly as `sqlx::migrate!` would (version and
//! description from the file name, a `-- no-transaction` first line honoured, each checksum the
//! SHA-384 of the file), without sqlx's `macros` feature: that feature builds a second copy of
//! sqlx's drivers for the compiler's host, which took a good part of every cold build.
//!
//! A store lists its files with [`migrations!`](crate::migrations!); a test of each store holds the
//! list equal to the directories with [`unembedded`], so a file added but not listed fails the
//! tests.

use std::borrow::Cow;
use std::path::Path;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::SqlStr;

/// One embedded migration: its file name (`0001_store.sql`) and its SQL.
pub type File = (&'static str, &'static str);

/// A store's embedded migrations: the same file names in `migrations/sqlite` and
/// `migrations/postgres` of its crate, one text per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub sqlite: &'static [File],
    pub postgres: &'static [File],
}

/// A store's migrations, `migrations!["0001_store.sql", …]`: each file of `migrations/sqlite` and
/// `migrations/postgres` (relative to the calling crate's manifest) read into the binary at
/// compile time.
#[macro_export]
macro_rules! migrations {
    [$($file:literal),+ $(,)?] => {
        $crate::migrations::Migrations {
            sqlite: &[$((
                $file,
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $file)),
            )),+],
            postgres: &[$((
                $file,
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $file)),
            )),+],
        }
    };
}

/// The migrator for these files. A file name that is not `<version>_<description>.sql` is an
/// error naming it.
pub fn migrator(files: &[File]) -> Result<Migrator, String> {
    let mut migrations = Vec::with_capacity(files.len());
    for (name, sql) in files {
        let parsed = name
            .strip_suffix(".sql")
            .and_then(|stem| stem.split_once('_'))
            .and_then(|(v, d)| Some((v.parse::<i64>().ok()?, d)));
        let Some((version, description)) = parsed else {
            return Err(format!(
                "migration {name:?}: expected <version>_<description>.sql"
            ));
        };
        migrations.push(Migration::new(
            version,
            Cow::Owned(description.replace('_', " ")),
            MigrationType::Simple,
            SqlStr::from_static(sql),
            sql.starts_with("-- no-transaction"),
        ));
    }
    Ok(Migrator::with_migrations(migrations))
}

/// What differs between a crate's migrations directories (`root`: its `migrations`) and what it
/// embedded; empty when they agree.
pub fn unembedded(root: &Path, m: &Migrations) -> Vec<String> {
    let mut out = unlisted(&root.join("sqlite"), m.sqlite);
    out.extend(unlisted(&root.join("postgres"), m.postgres));
    out
}

/// What differs between the `.sql` files in `dir` and the embedded `files`: each file only on
/// disk, only listed, or listed with other text than the file has now. Empty when they agree.
pub fn unlisted(dir: &Path, files: &[File]) -> Vec<String> {
    let mut out = Vec::new();
    let mut on_disk: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect(),
        Err(e) => return vec![format!("{}: {e}", dir.display())],
    };
    on_disk.sort();
    for n in &on_disk {
        match files.iter().find(|(name, _)| name == n) {
            None => out.push(format!("{}/{n} is not listed", dir.display())),
            Some((_, sql)) => {
                if std::fs::read_to_string(dir.join(n)).ok().as_deref() != Some(*sql) {
                    out.push(format!(
                        "{}/{n} differs from its embedded text",
                        dir.display()
                    ));
                }
            }
        }
    }
    for (name, _) in files {
        if !on_disk.iter().any(|n| n == name) {
            out.push(format!("{name} is listed but not in {}", dir.display()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_descriptions_come_from_the_file_names_as_sqlx_reads_them() {
        let m = migrator(&[
            ("0002_outbox_urgency.sql", "ALTER TABLE t ADD u INTEGER;"),
            (
                "0001_store.sql",
                "-- no-transaction\nCREATE TABLE t (id TEXT);",
            ),
        ])
        .unwrap();
        let got: Vec<(i64, &str, bool)> = m
            .migrations
            .iter()
            .map(|m| (m.version, m.description.as_ref(), m.no_tx))
            .collect();
        assert_eq!(got, [(1, "store", true), (2, "outbox urgency", false)]);
        // sqlx's checksum: SHA-384 of the text.
        assert_eq!(m.migrations[1].checksum.len(), 48);
        for bad in ["store.sql", "x_store.sql", "0001_store.txt"] {
            let e = migrator(&[(bad, "")]).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn a_file_not_listed_or_changed_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0001_a.sql"), "A").unwrap();
        std::fs::write(dir.path().join("0002_b.sql"), "B").unwrap();
        let problems = unlisted(
            dir.path(),
            &[("0001_a.sql", "changed"), ("0003_c.sql", "C")],
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("0001_a.sql differs"));
        assert!(problems[1].contains("0002_b.sql is not listed"));
        assert!(problems[2].contains("0003_c.sql is listed but not"));
        assert!(unlisted(dir.path(), &[("0001_a.sql", "A"), ("0002_b.sql", "B")]).is_empty());
    }
}
