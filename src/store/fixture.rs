//! Stores over each metadata database, for tests written once and run on both (the contract
//! suite): [`Fixture::sqlite`] on a temp file, [`Fixture::postgres`] on a fresh database of the
//! test binary's throwaway cluster ([`super::sql::testing`]). [`backend_tests!`] turns a list of
//! `async fn name(f: Fixture)` into one `#[tokio::test]` per function and backend.

use crate::config::{Config, Storage};
use crate::store::Store;
use crate::store::sql::Backend;

/// A store in a temp dir, with the config that opened it.
pub struct Fixture {
    /// The store.
    pub store: Store,
    /// Its config (open it again for a second replica).
    pub config: Config,
    /// Which database holds its metadata.
    pub backend: Backend,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Metadata in a SQLite file.
    #[must_use]
    pub fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config { storage: Storage::under(dir.path()), ..Config::default() };
        Fixture { store: Store::open(&config).expect("store"), config, backend: Backend::Sqlite, _dir: dir }
    }

    /// Metadata in a new PostgreSQL database; `None` (the test skips) when PostgreSQL is not
    /// installed outside CI.
    #[must_use]
    pub fn postgres() -> Option<Fixture> {
        let cluster = super::sql::testing::cluster()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config { storage: Storage::under(dir.path()), ..Config::default() };
        config.database.url = Some(cluster.create_database());
        let store = Store::open(&config).expect("store on PostgreSQL");
        Some(Fixture { store, config, backend: Backend::Postgres, _dir: dir })
    }

    /// Another store on the same database and blobs: a second replica.
    #[must_use]
    pub fn replica(&self) -> Store {
        Store::open(&self.config).expect("second store")
    }
}

/// One `#[tokio::test]` per listed `async fn(Fixture)` and backend, in modules `sqlite` and
/// `postgres`.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::store::fixture::Fixture::sqlite()).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(f) = $crate::store::fixture::Fixture::postgres() else { return };
                    super::$name(f).await;
                }
            )+
        }
    };
}
pub(crate) use backend_tests;
