//! openraft's storage conformance suite (`openraft::testing::Suite`) run against Brook's metadata
//! quorum storage: the Raft log on brook-log (`quorum::log_store`) and the metadata state
//! machine (`quorum::state_machine`). Each case gets a fresh log directory.

use brook_broker::controller::ControllerConfig;
use brook_broker::metadata_log::METADATA_LOG;
use brook_broker::quorum::log_store::{LogStore, metadata_log_config};
use brook_broker::quorum::state_machine::StateMachine;
use brook_broker::quorum::{NodeId, TypeConfig};
use brook_log::{LogDir, LogOptions};
use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = LogOptions::default();
        let fs = options.fs.clone();
        let mut log_dir = LogDir::open(dir.path(), options).expect("log dir");
        let log = log_dir
            .create_log(METADATA_LOG, metadata_log_config())
            .expect("metadata log");
        let store = LogStore::open(log, fs.clone(), dir.path())?;
        let sm = StateMachine::open(ControllerConfig::default(), fs, dir.path())?;
        Ok((dir, store, sm))
    }
}

#[test]
fn openraft_storage_conformance_suite() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("openraft storage suite failed: {e}");
    }
}
